"""Tiles and thumbnails from a COG through rio-tiler: which bands, which display range, which format.

Two tile grids: the image's own pixel grid (every image; what the map client draws in) and Web Mercator
XYZ (georeferenced images only). A tile outside the image raises TileOutsideBoundsError.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import attr
import numpy as np
from rio_tiler.colormap import apply_cmap
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import ImageReader, Reader
from rio_tiler.io.rasterio import LocalTileMatrixSet
from rio_tiler.models import ImageData
from rio_tiler.types import RIOResampling

from app.core.errors import NotFoundError
from app.imagery import warp_grid
from app.imagery.encoding import encode_pixels
from app.imagery.terrain import elevation_colormap, hillshade

warp_grid.install()

TILE_SIZE = 256


class TileGrid(enum.StrEnum):
    PIXEL = "pixel"
    MERCATOR = "mercator"


class TileFormat(enum.StrEnum):
    JPEG = "jpg"
    PNG = "png"
    WEBP = "webp"

    @property
    def driver(self) -> str:
        return {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[self.value]

    @property
    def media_type(self) -> str:
        return {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}[self.value]


class TileOutsideBoundsError(NotFoundError):
    code = "tile_outside_image"


class RenderMode(enum.StrEnum):
    BANDS = "bands"  # one or three bands as grey or red, green, blue
    HILLSHADE = "hillshade"  # shaded relief of one elevation band (app.imagery.terrain)
    ELEVATION = "elevation"  # one elevation band through a colour ramp


@dataclass(frozen=True)
class RenderSpec:
    """Bands to show (1-based) and, per band, the input range mapped to 0..255 (None: as stored), and how
    they are drawn (an elevation model may be shaded or coloured)."""

    indexes: tuple[int, ...]
    ranges: tuple[tuple[float, float], ...] | None
    mode: RenderMode = RenderMode.BANDS

    @property
    def resampling(self) -> RIOResampling:
        # Nearest neighbour shows the sensor's real pixels (and is the fastest); shading from a nearest-
        # neighbour DEM would draw every source pixel's edge as a cliff, so slopes are read bilinear.
        return "bilinear" if self.mode is RenderMode.HILLSHADE else "nearest"


class _OpenReaders(threading.local):
    """Readers kept open per thread (rasterio datasets must not be shared between threads), so that a
    tile does not pay for opening the file, reading its header and computing its bounds every time."""

    def __init__(self) -> None:
        self.readers: OrderedDict[tuple[str, TileGrid], Reader] = OrderedDict()

    def get(self, path: str, grid: TileGrid) -> Reader:
        key = (path, grid)
        reader = self.readers.get(key)
        if reader is None:
            reader = (ImageReader if grid is TileGrid.PIXEL else Reader)(path)
            self.readers[key] = reader
            if len(self.readers) > _OPEN_READERS_PER_THREAD:
                _, oldest = self.readers.popitem(last=False)
                oldest.close()  # type: ignore[no-untyped-call]
        else:
            self.readers.move_to_end(key)
        return reader


_OPEN_READERS_PER_THREAD = 16
_open_readers = _OpenReaders()


def read_tile(path: str, grid: TileGrid, z: int, x: int, y: int, spec: RenderSpec) -> ImageData:
    outside = f"Tile {z}/{x}/{y} is outside the image ({grid.value} grid)."
    reader = _open_readers.get(path, grid)
    if grid is TileGrid.PIXEL and z > reader.maxzoom:
        raise TileOutsideBoundsError(
            f"Zoom {z} is beyond full resolution; this image's pixel grid ends at zoom {reader.maxzoom}."
        )
    options: dict[str, Any] = {"resampling_method": spec.resampling}
    if grid is TileGrid.MERCATOR:
        options["reproject_method"] = spec.resampling  # the warp into Web Mercator, beside the overviews'
    try:
        # rio-tiler checks that the tile meets the image (for Web Mercator a reprojection of the tile's
        # bounds, ~10 % of a cold tile), so it is not checked here a second time.
        tile: ImageData = reader.tile(x, y, z, tilesize=TILE_SIZE, indexes=spec.indexes, **options)
    except TileOutsideBounds as exc:
        raise TileOutsideBoundsError(outside) from exc
    return tile


def pixel_grid_maxzoom(width: int, height: int) -> int:
    """Zoom levels of the pixel grid run from 0 to this (full resolution). A zoom-0 tile covers
    256 * 2**maxzoom pixels, where maxzoom is the number of halvings that bring the *shorter* side to 256 px
    or less: the whole image for a square one, a row (or column) of tiles along a long side otherwise."""
    return int(LocalTileMatrixSet(width=width, height=height, tile_size=TILE_SIZE).maxzoom)


def read_preview(path: str, spec: RenderSpec, max_size: int) -> ImageData:
    with ImageReader(path) as reader:
        preview: ImageData = reader.preview(
            max_size=max_size, indexes=spec.indexes, resampling_method=spec.resampling
        )
        return preview


def to_display(image: ImageData, spec: RenderSpec) -> ImageData:
    """The image in 8 bits as the map shows it: the spec's ranges, or shading (the colour ramp of an
    elevation band is applied by ``encode`` and ``display_rgb``)."""
    if spec.mode is RenderMode.HILLSHADE:
        return hillshade(image)
    # rio-tiler rescales the array in place: work on a copy, so that one tile can be encoded in several
    # formats (the stored pyramid does) and a caller's image is never changed.
    if spec.ranges is not None:
        return _copy(image).rescale(in_range=spec.ranges, out_range=((0, 255),), out_dtype="uint8")
    if image.data.dtype != np.uint8:
        return _copy(image).rescale(in_range=((0, 255),), out_dtype="uint8")
    return image


def _copy(image: ImageData) -> ImageData:
    copied: ImageData = attr.evolve(image, array=image.array.copy())
    return copied


def display_rgb(image: ImageData, spec: RenderSpec) -> np.ndarray:
    """What the map shows, as a (height, width, 3) uint8 RGB array (SAM's input, for one)."""
    shown = to_display(image, spec)
    data = np.asarray(shown.data, dtype=np.uint8)
    if spec.mode is RenderMode.ELEVATION:
        rgba, _ = apply_cmap(data, elevation_colormap())
        data = rgba[:3]
    elif data.shape[0] == 1:
        data = np.repeat(data, 3, axis=0)
    return np.ascontiguousarray(data[:3].transpose(1, 2, 0))


def encode(image: ImageData, spec: RenderSpec, fmt: TileFormat, jpeg_quality: int) -> bytes:
    """Scale to 8 bits with the spec's ranges (or shade, or colour an elevation band) and encode; JPEG has no
    transparency, PNG/WebP do (the image's mask as alpha)."""
    image = to_display(image, spec)
    data = np.asarray(image.data, dtype=np.uint8)
    alpha = None if fmt is TileFormat.JPEG else image.mask
    if spec.mode is RenderMode.ELEVATION:
        # The ramp's own alpha, where the image has data (as rio-tiler's render combines them).
        data, ramp_alpha = apply_cmap(data, elevation_colormap())
        if alpha is not None:
            alpha = np.where(alpha != 0, ramp_alpha, 0).astype(np.uint8)
    return encode_pixels(data, alpha, fmt.value, jpeg_quality)
