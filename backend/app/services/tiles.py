"""Map tiles of observations: stored pyramid tiles, else rendered through rio-tiler; kept in a bounded
in-memory cache.

Tile URLs carry the site's render version (``?v=``), so a cached tile never goes stale: when display
ranges change the URL changes. The cache key is built from the request alone, so a cache hit needs no
database query. A miss needs the observation's file and look (a ``TileSource``), which each API process
keeps per render version for ``TILES__SOURCE_CACHE_S``, so only the first tile of an image reads the
database; pixel tiles of the lowest zooms are then one read of bytes stored at ingest (app.imagery.pyramid).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from app.core.config import TileSettings
from app.core.errors import ConflictError, InvalidInputError
from app.imagery.bands import default_preset, requested_preset
from app.imagery.pyramid import PYRAMID_FORMATS, pyramid_digest, pyramid_folder, read_manifest, tile_key
from app.imagery.render import RenderSpec, TileFormat, TileGrid, encode, read_tile
from app.imagery.storage import Storage, gdal_env, observation_prefix
from app.models.observation import Observation, ObservationStatus
from app.models.project import DisplayPreset, Site
from app.services.imagery_processing import render_spec


class ObservationNotReadyError(ConflictError):
    code = "observation_not_ready"


class NotGeoreferencedError(InvalidInputError):
    code = "not_georeferenced"


class GeoreferenceBeingWrittenError(ConflictError):
    code = "georeference_being_written"


@dataclass(frozen=True)
class TileRequest:
    observation_id: str
    version: int
    preset: DisplayPreset | None  # None: the project's preset
    grid: TileGrid
    z: int
    x: int
    y: int
    fmt: TileFormat

    @property
    def etag(self) -> str:
        digest = hashlib.sha1(repr(self).encode(), usedforsecurity=False).hexdigest()
        return f'"{digest}"'


class TileCache:
    """A thread-safe LRU of encoded tiles, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[TileRequest, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: TileRequest) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: TileRequest, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= len(evicted)


@dataclass
class TileSource:
    """What rendering an observation's tiles with one preset needs from the database, checked once: the
    COG, the look, and (read lazily, per format) how many zooms of its stored pyramid there are."""

    cog_key: str
    prefix: str
    spec: RenderSpec
    jpeg_quality: int
    _pyramid_tops: dict[TileFormat, int | None] = field(default_factory=dict)

    def pyramid_folder(self, fmt: TileFormat) -> str:
        return pyramid_folder(self.prefix, pyramid_digest(self.spec, fmt, self.jpeg_quality))

    def pyramid_top(self, storage: Storage, fmt: TileFormat) -> int | None:
        """The highest zoom stored for ``fmt`` (None: no pyramid in this look). Two threads may both read
        the manifest the first time; both find the same."""
        if fmt not in self._pyramid_tops:
            manifest = read_manifest(storage, self.prefix, fmt) if fmt in PYRAMID_FORMATS else None
            same_look = manifest is not None and manifest.digest == pyramid_digest(
                self.spec, fmt, self.jpeg_quality
            )
            self._pyramid_tops[fmt] = manifest.top_zoom if manifest is not None and same_look else None
        return self._pyramid_tops[fmt]


SourceKey = tuple[str, int, DisplayPreset | None, TileGrid]


class TileSourceCache:
    """``TileSource`` per observation, render version, preset and grid, each for ``ttl_s`` seconds (which is
    how long a deleted observation's tiles can still be read by a process that had them). Errors (not ready,
    not georeferenced) are never kept."""

    def __init__(self, ttl_s: float, size: int = 10_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._entries: dict[SourceKey, tuple[float, TileSource]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(request: TileRequest) -> SourceKey:
        return request.observation_id, request.version, request.preset, request.grid

    def get(self, request: TileRequest) -> TileSource | None:
        found = self._entries.get(self.key(request))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, request: TileRequest, source: TileSource) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.size:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.size:
                    self._entries.clear()
            self._entries[self.key(request)] = (time.monotonic() + self.ttl_s, source)


def tile_source(
    settings: TileSettings,
    observation: Observation,
    site: Site,
    project_preset: DisplayPreset,
    request: TileRequest,
) -> TileSource:
    """What drawing ``request`` needs; ``request.preset`` must be one the image supports (else
    PresetNotSupportedError, a 422 naming those it does), and without one the image's default for
    ``project_preset`` is drawn."""
    if observation.status is not ObservationStatus.READY or observation.cog_key is None:
        raise ObservationNotReadyError(
            f"Observation {observation.id} is {observation.status.value}; tiles exist once it is ready."
        )
    if request.grid is TileGrid.MERCATOR and not observation.is_georeferenced:
        raise NotGeoreferencedError(
            f"Observation {observation.id} has no georeferencing; use the pixel grid, or import it with a "
            "sidecar giving its bounding box or centre, or a world file (or set it: PATCH "
            f"/api/observations/{observation.id})."
        )
    if request.grid is TileGrid.MERCATOR and observation.georeference_job_id is not None:
        raise GeoreferenceBeingWrittenError(
            f"Observation {observation.id}'s corrected georeferencing is being written into its image (job "
            f"{observation.georeference_job_id}); its Web Mercator tiles follow when that job is done.",
            job_id=observation.georeference_job_id,
        )
    names, dtype = observation.band_names, observation.dtype
    if request.preset is not None:
        preset: DisplayPreset | None = requested_preset(request.preset, names, dtype)
    else:
        preset, _ = default_preset(project_preset, names, dtype)
    return TileSource(
        cog_key=observation.cog_key,
        prefix=observation_prefix(observation.project_id, observation.id),
        spec=render_spec(observation, site, preset),
        jpeg_quality=settings.jpeg_quality,
    )


def render_tile(storage: Storage, source: TileSource, request: TileRequest) -> bytes:
    """The tile's bytes: as stored at ingest where the pyramid has it, else read and encoded now (a tile
    outside the image raises TileOutsideBoundsError)."""
    if request.grid is TileGrid.PIXEL:
        top = source.pyramid_top(storage, request.fmt)
        if top is not None and request.z <= top:
            folder = source.pyramid_folder(request.fmt)
            stored = storage.try_get_bytes(tile_key(folder, request.z, request.x, request.y, request.fmt))
            if stored is not None:
                return (
                    stored  # absent: outside the image (rendering says so), or the pyramid is being replaced
                )
    with gdal_env(storage):
        image = read_tile(
            storage.raster_path(source.cog_key),
            request.grid,
            request.z,
            request.x,
            request.y,
            source.spec,
        )
    return encode(image, source.spec, request.fmt, source.jpeg_quality)
