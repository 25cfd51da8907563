"""Per-site display ranges: 2nd and 98th percentiles of each band over all of a site's observations.

Computed from small previews (COG overviews), once per change of the site's observations, so that every
observation of a site is shown with the same ranges and change between them is not a display artefact.
"""

from __future__ import annotations

import numpy as np
from rio_tiler.io import ImageReader

LOW_PERCENTILE = 2.0
HIGH_PERCENTILE = 98.0
PREVIEW_SIZE = 512


def site_stretch(cog_paths: list[str], band_count: int) -> dict[str, list[float]]:
    """Ranges by 1-based band index (as strings, for JSON) over the valid pixels of all ``cog_paths``."""
    samples: list[list[np.ndarray]] = [[] for _ in range(band_count)]
    for path in cog_paths:
        with ImageReader(path) as reader:
            indexes = tuple(range(1, min(band_count, reader.dataset.count) + 1))
            preview = reader.preview(max_size=PREVIEW_SIZE, indexes=indexes)
        valid = preview.mask > 0
        for i in range(len(indexes)):
            values = preview.data[i][valid]
            samples[i].append(values[np.isfinite(values)])
    ranges: dict[str, list[float]] = {}
    for i, chunks in enumerate(samples):
        values = np.concatenate(chunks) if chunks else np.array([])
        if values.size == 0:
            continue
        low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
        if high <= low:
            high = low + 1
        ranges[str(i + 1)] = [float(low), float(high)]
    return ranges
