"""Map tiles of observations: rendered through rio-tiler, kept in a bounded in-memory cache.

Tile URLs carry the site's render version (``?v=``), so a cached tile never goes stale: when display
ranges change the URL changes. The cache key is built from the request alone, so a cache hit needs no
database query.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from app.core.config import TileSettings
from app.core.errors import ConflictError, InvalidInputError
from app.imagery.bands import default_preset, requested_preset
from app.imagery.render import TileFormat, TileGrid, encode, read_tile
from app.imagery.storage import Storage, gdal_env
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


def render_tile(
    storage: Storage,
    settings: TileSettings,
    observation: Observation,
    site: Site,
    project_preset: DisplayPreset,
    request: TileRequest,
) -> bytes:
    """The tile's bytes; ``request.preset`` must be one the image supports (else PresetNotSupportedError,
    a 422 naming those it does), and without one the image's default for ``project_preset`` is drawn."""
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
    spec = render_spec(observation, site, preset)
    with gdal_env(storage):
        image = read_tile(
            storage.raster_path(observation.cog_key),
            request.grid,
            request.z,
            request.x,
            request.y,
            spec,
        )
    return encode(image, spec, request.fmt, settings.jpeg_quality)
