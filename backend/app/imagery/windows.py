"""A part of an image rendered as the map shows it (display preset's bands, the site's stretch), resampled to
a given size: what SAM's encoder sees of a window."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from rio_tiler.models import ImageData

from app.imagery.render import RenderSpec, display_rgb


def render_window(
    path: str, spec: RenderSpec, x: int, y: int, width: int, height: int, out_size: tuple[int, int]
) -> np.ndarray:
    """The window (x, y, width, height in source pixels) as 8-bit RGB of ``out_size`` (height, width), drawn
    as the tiles draw it (app.imagery.render.display_rgb: ranges, shading, colour ramp).

    Returns:
        A (height, width, 3) uint8 array.
    """
    with rasterio.open(path) as src:
        data = src.read(
            indexes=list(spec.indexes),
            window=Window(x, y, width, height),
            out_shape=(len(spec.indexes), *out_size),
            resampling=Resampling.bilinear,
        )
    return display_rgb(ImageData(data), spec)
