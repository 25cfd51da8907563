"""The warp grid of a Web Mercator tile's image, computed once per image instead of once per tile.

rio-tiler's ``get_vrt_transform`` asks ``rasterio.warp.calculate_default_transform`` for the whole image's
default grid in the tile's CRS on every tile, from the image's CRS, size and bounds only: the same answer
for every tile of an image, and ~18 % of a cold Web Mercator tile in the profile (bench/README.md). The
function rio-tiler calls is replaced by a memo of it, keyed by exactly those arguments, so the grid and
hence every pixel are the ones rasterio computes (docs/adr/2026-12-02-tiles-encoded-with-pillow.md).
"""

from __future__ import annotations

import functools
from typing import Any

import rio_tiler.utils
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import calculate_default_transform as _computed


@functools.lru_cache(maxsize=1024)  # a few hundred bytes an image; images of a busy process, many times
def _memo(
    src_crs: CRS, dst_crs: CRS, width: int, height: int, left: float, bottom: float, right: float, top: float
) -> tuple[Affine, int, int]:
    transform, columns, rows = _computed(src_crs, dst_crs, width, height, left, bottom, right, top)
    return transform, columns, rows


def default_transform(
    src_crs: Any, dst_crs: Any, width: int, height: int, *bounds: float, **options: Any
) -> Any:
    """``calculate_default_transform``'s signature; the call rio-tiler makes (plain bounds, no options)
    comes from the memo, any other goes to rasterio as it is."""
    if options or len(bounds) != 4 or not isinstance(src_crs, CRS) or not isinstance(dst_crs, CRS):
        return _computed(src_crs, dst_crs, width, height, *bounds, **options)
    return _memo(src_crs, dst_crs, width, height, *bounds)


def install() -> None:
    """Point rio-tiler's warp grid at the memo (idempotent; done when app.imagery.render is imported)."""
    # rio-tiler imports the name into its module (``from rasterio.warp import ...``): that is what it calls.
    setattr(rio_tiler.utils, "calculate_default_transform", default_transform)  # noqa: B010


def cache_info() -> functools._CacheInfo:
    return _memo.cache_info()
