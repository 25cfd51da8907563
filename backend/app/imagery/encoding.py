"""Tile pixels to PNG, JPEG or WebP bytes with Pillow (docs/adr/2026-12-02-tiles-encoded-with-pillow.md).

GDAL's image drivers (what rio-tiler's ``render`` uses) write every tile through a MemoryFile, a dataset
and a CreateCopy; on a cold tile that was 20-50 % of the time and it scaled badly across threads. Pillow
encodes the same array with the same codecs (zlib, libjpeg-turbo, libwebp) directly and releases the GIL
while it does. The pixels are those of GDAL's drivers: PNG identical, JPEG and WebP at the same quality.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

# What Pillow calls the image, by number of bands: grey or RGB, with the mask as alpha or without.
_MODES = {(1, False): "L", (1, True): "LA", (3, False): "RGB", (3, True): "RGBA"}
# zlib level 1, as GDAL's ZLEVEL=1 before: most of the compression for a fraction of the time. Run-length
# matching only (Z_RLE) after PNG's row filters: 5-10 % faster and 10-12 % smaller than zlib's default
# matching on the seed images' tiles (bench/README.md); lossless either way.
PNG_COMPRESS_LEVEL = 1
PNG_ZLIB_STRATEGY = zlib.Z_RLE
WEBP_QUALITY = 90


class UnsupportedBandsError(ValueError):
    """Only grey and RGB tiles are drawn (``app.imagery.bands.own_bands``); anything else is a bug."""


def encode_pixels(data: np.ndarray, alpha: np.ndarray | None, fmt: str, jpeg_quality: int) -> bytes:
    """Encode one tile.

    Args:
        data: (bands, height, width) uint8, one or three bands.
        alpha: (height, width) uint8 (0 transparent, 255 opaque) or None; ignored for JPEG, which has none.
        fmt: "png", "jpg" or "webp" (``TileFormat`` values).
        jpeg_quality: libjpeg's quality for JPEG (WebP has its own, ``WEBP_QUALITY``).

    Returns:
        The encoded image.
    """
    if data.dtype != np.uint8:
        raise ValueError(f"tiles are encoded from 8-bit pixels, not {data.dtype}")
    if fmt == "webp" and data.shape[0] == 1:
        data = np.repeat(data, 3, axis=0)  # as GDAL's WebP driver: WebP has no grey image
    if fmt == "jpg":
        alpha = None
    mode = _MODES.get((data.shape[0], alpha is not None))
    if mode is None:
        raise UnsupportedBandsError(f"cannot encode a tile of {data.shape[0]} bands")
    bands = data if alpha is None else np.concatenate([data, alpha[np.newaxis].astype(np.uint8)])
    # Pillow wants pixels interleaved (height, width, bands); one band is a plain 2-D array.
    pixels = bands[0] if bands.shape[0] == 1 else bands.transpose(1, 2, 0)
    height, width = pixels.shape[:2]
    image = Image.frombuffer(mode, (width, height), np.ascontiguousarray(pixels), "raw", mode, 0, 1)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL, compress_type=PNG_ZLIB_STRATEGY)
    elif fmt == "jpg":
        # Optimized Huffman tables, as GDAL's driver wrote them: the same size for one more pass.
        image.save(out, format="JPEG", quality=jpeg_quality, optimize=True)
    elif fmt == "webp":
        image.save(out, format="WEBP", quality=WEBP_QUALITY)
    else:
        raise ValueError(f"unknown tile format {fmt!r}")
    return out.getvalue()
