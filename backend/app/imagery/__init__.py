"""Imagery: validation of uploads, georeferencing, Cloud-Optimized GeoTIFFs, map tiles, storage."""

import warnings

from rasterio.errors import NotGeoreferencedWarning

# Images in pixel space only (plain PNG/JPEG) are normal here, not a mistake worth a warning per read.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
