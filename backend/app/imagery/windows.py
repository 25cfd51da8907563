"""A part of an image rendered as the map shows it (display preset's bands, the site's stretch), resampled to
a given size: what SAM's encoder sees of a window."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from rio_tiler.models import ImageData

from app.imagery.render import RenderSpec


def render_window(
    path: str, spec: RenderSpec, x: int, y: int, width: int, height: int, out_size: tuple[int, int]
) -> np.ndarray:
    """The window (x, y, width, height in source pixels) as 8-bit RGB of ``out_size`` (height, width).

    Returns:
        A (height, width, 3) uint8 array; a single-band image is repeated into three channels.
    """
    with rasterio.open(path) as src:
        data = src.read(
            indexes=list(spec.indexes),
            window=Window(x, y, width, height),
            out_shape=(len(spec.indexes), *out_size),
            resampling=Resampling.bilinear,
        )
    image = ImageData(data)
    # The same scaling to 8 bits as the tiles (app.imagery.render.encode).
    if spec.ranges is not None:
        image = image.rescale(in_range=spec.ranges, out_range=((0, 255),), out_dtype="uint8")
    elif image.data.dtype != np.uint8:
        image = image.rescale(in_range=((0, 255),), out_dtype="uint8")
    rgb = np.asarray(image.data, dtype=np.uint8)
    if rgb.shape[0] == 1:
        rgb = np.repeat(rgb, 3, axis=0)
    return np.ascontiguousarray(rgb[:3].transpose(1, 2, 0))
