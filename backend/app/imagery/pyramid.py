"""The top of an image's pixel-grid pyramid, rendered once at ingest and served as stored bytes.

A never-seen image is what an annotator opens next, so its first view must not wait for GDAL reads and
encodes. At ingest (and whenever the site's look changes) the pixel tiles of the lowest zooms are rendered
with the very functions that render a tile on request (``read_tile`` + ``encode``) and stored beside the
COG, one object per tile. Their folder is named after a digest of everything that decides the pixels
(bands, display ranges, mode, format, JPEG quality, this module's version) and never rewritten, so a
changed preset or stretch can never be served from it: it looks for another digest and renders live until
that one is written. A manifest per format, written after the tiles, names the current digest and its
zooms; the folder it replaces is deleted after it (docs/adr/2026-12-02-pre-rendered-pixel-pyramid.md).
"""

from __future__ import annotations

import hashlib
import math

from pydantic import BaseModel

from app.imagery.render import (
    TILE_SIZE,
    RenderSpec,
    TileFormat,
    TileGrid,
    encode,
    pixel_grid_maxzoom,
    read_tile,
)
from app.imagery.storage import Storage

# Formats stored: PNG is what the labeling view asks for, JPEG is the API's default. WebP renders live.
PYRAMID_FORMATS = (TileFormat.PNG, TileFormat.JPEG)
# Bump when rendering changes in a way the spec does not show, so old pyramids are not used any more.
# Not bumped for the move from GDAL's encoders to Pillow's: PNG pixels are identical, JPEG the same quality.
_PYRAMID_VERSION = 1


class PyramidManifest(BaseModel):
    """Written after every tile of a pyramid: zooms 0 to ``top_zoom`` of the look ``digest`` are all there."""

    digest: str
    top_zoom: int


def pyramid_digest(spec: RenderSpec, fmt: TileFormat, jpeg_quality: int) -> str:
    """Names one look of an image: anything that changes a tile's pixels or bytes changes it."""
    quality = jpeg_quality if fmt is TileFormat.JPEG else None
    text = repr((_PYRAMID_VERSION, spec.indexes, spec.ranges, spec.mode.value, fmt.value, quality))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def pyramid_folder(observation_prefix: str, digest: str) -> str:
    return f"{observation_prefix}/pyramid/{digest}"


def manifest_key(observation_prefix: str, fmt: TileFormat) -> str:
    return f"{observation_prefix}/pyramid/{fmt.value}.json"


def tile_key(folder: str, z: int, x: int, y: int, fmt: TileFormat) -> str:
    return f"{folder}/{z}/{x}/{y}.{fmt.value}"


def tiles_at_zoom(width: int, height: int, z: int) -> tuple[int, int]:
    """Columns and rows of pixel-grid tiles at zoom ``z`` (a tile covers 256 * 2**(maxzoom - z) pixels)."""
    span = TILE_SIZE * 2 ** (pixel_grid_maxzoom(width, height) - z)
    return math.ceil(width / span), math.ceil(height / span)


def top_zoom(width: int, height: int, max_tiles: int) -> int | None:
    """The highest zoom such that zooms 0 to it have at most ``max_tiles`` tiles together (None: not even
    zoom 0 fits). A 1000 x 1000 image has 21 tiles in all (1 + 4 + 16)."""
    total, top = 0, None
    for z in range(pixel_grid_maxzoom(width, height) + 1):
        columns, rows = tiles_at_zoom(width, height, z)
        total += columns * rows
        if total > max_tiles:
            break
        top = z
    return top


def read_manifest(storage: Storage, observation_prefix: str, fmt: TileFormat) -> PyramidManifest | None:
    data = storage.try_get_bytes(manifest_key(observation_prefix, fmt))
    return PyramidManifest.model_validate_json(data) if data is not None else None


def write_pyramid(
    storage: Storage,
    raster_path: str,
    observation_prefix: str,
    spec: RenderSpec,
    *,
    width: int,
    height: int,
    jpeg_quality: int,
    max_tiles: int,
) -> int:
    """Render and store the pyramid's tiles in every stored format (unless that look is there already),
    inside the caller's ``gdal_env``; each tile is read once and encoded per format. Idempotent. Returns
    the number of tiles written.

    Args:
        raster_path: the COG, as ``storage.raster_path`` gives it.
        max_tiles: at most this many tiles per format (the lowest zooms); 0 writes nothing.
    """
    top = top_zoom(width, height, max_tiles) if max_tiles > 0 else None
    if top is None:
        return 0
    wanted = {
        fmt: PyramidManifest(digest=pyramid_digest(spec, fmt, jpeg_quality), top_zoom=top)
        for fmt in PYRAMID_FORMATS
    }
    current = {fmt: read_manifest(storage, observation_prefix, fmt) for fmt in PYRAMID_FORMATS}
    missing = [fmt for fmt in PYRAMID_FORMATS if current[fmt] != wanted[fmt]]
    if not missing:
        return 0
    written = 0
    for z in range(top + 1):
        columns, rows = tiles_at_zoom(width, height, z)
        for x in range(columns):
            for y in range(rows):
                image = read_tile(raster_path, TileGrid.PIXEL, z, x, y, spec)
                for fmt in missing:
                    folder = pyramid_folder(observation_prefix, wanted[fmt].digest)
                    storage.put_bytes(encode(image, spec, fmt, jpeg_quality), tile_key(folder, z, x, y, fmt))
                    written += 1
    for fmt in missing:
        storage.put_bytes(wanted[fmt].model_dump_json().encode(), manifest_key(observation_prefix, fmt))
        old = current[fmt]
        if old is not None and old.digest != wanted[fmt].digest:
            # A process that still serves the old look misses here and renders that look live.
            storage.delete_prefix(pyramid_folder(observation_prefix, old.digest))
    return written
