"""Tiles and thumbnails from a COG through rio-tiler: which bands, which display range, which format.

Two tile grids: the image's own pixel grid (every image; what the map client draws in) and Web Mercator
XYZ (georeferenced images only). A tile outside the image raises TileOutsideBoundsError.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import ImageReader, Reader
from rio_tiler.io.rasterio import LocalTileMatrixSet
from rio_tiler.models import ImageData

from app.core.errors import NotFoundError

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


@dataclass(frozen=True)
class RenderSpec:
    """Bands to show (1-based) and, per band, the input range mapped to 0..255 (None: as stored)."""

    indexes: tuple[int, ...]
    ranges: tuple[tuple[float, float], ...] | None


def read_tile(path: str, grid: TileGrid, z: int, x: int, y: int, spec: RenderSpec) -> ImageData:
    reader_class = ImageReader if grid is TileGrid.PIXEL else Reader
    try:
        with reader_class(path) as reader:
            if grid is TileGrid.PIXEL and z > reader.maxzoom:
                raise TileOutsideBoundsError(
                    f"Zoom {z} is beyond full resolution; this image's pixel grid ends at zoom "
                    f"{reader.maxzoom}."
                )
            if not reader.tile_exists(x, y, z):
                raise TileOutsideBoundsError(f"Tile {z}/{x}/{y} is outside the image ({grid.value} grid).")
            tile: ImageData = reader.tile(
                x, y, z, tilesize=TILE_SIZE, indexes=spec.indexes, resampling_method="bilinear"
            )
            return tile
    except TileOutsideBounds as exc:
        raise TileOutsideBoundsError(f"Tile {z}/{x}/{y} is outside the image ({grid.value} grid).") from exc


def pixel_grid_maxzoom(width: int, height: int) -> int:
    """Zoom levels of the pixel grid run from 0 (whole image in one tile) to this (full resolution)."""
    return int(LocalTileMatrixSet(width=width, height=height, tile_size=TILE_SIZE).maxzoom)


def read_preview(path: str, spec: RenderSpec, max_size: int) -> ImageData:
    with ImageReader(path) as reader:
        preview: ImageData = reader.preview(max_size=max_size, indexes=spec.indexes)
        return preview


def encode(image: ImageData, spec: RenderSpec, fmt: TileFormat, jpeg_quality: int) -> bytes:
    """Scale to 8 bits with the spec's ranges and encode; JPEG has no transparency, PNG/WebP do."""
    if spec.ranges is not None:
        image = image.rescale(in_range=spec.ranges, out_range=((0, 255),), out_dtype="uint8")
    elif image.data.dtype != np.uint8:
        image = image.rescale(in_range=((0, 255),), out_dtype="uint8")
    options: dict[str, Any] = {"quality": jpeg_quality} if fmt is TileFormat.JPEG else {}
    if fmt is TileFormat.WEBP:
        options = {"quality": 90}
    return image.render(img_format=fmt.driver, add_mask=fmt is not TileFormat.JPEG, **options)
