"""The ``ingest`` job's work: originals -> Cloud-Optimized GeoTIFFs, site display ranges, thumbnails.

Idempotent: an observation that is already ready is skipped, so a redelivered job finishes what is left.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from affine import Affine
from sqlalchemy.orm import Session

from app.core.config import TileSettings
from app.imagery.bands import default_preset, own_bands, preset_indexes
from app.imagery.cog import make_cog
from app.imagery.pyramid import write_pyramid
from app.imagery.render import RenderMode, RenderSpec, TileFormat, encode, read_preview
from app.imagery.storage import Storage, gdal_env, observation_prefix
from app.imagery.stretch import site_stretch
from app.jobs.errors import is_transient
from app.models.job import Job
from app.models.observation import GeorefSource, Observation, ObservationStatus
from app.models.project import DisplayPreset, Project, Site
from app.repositories import imagery as repo
from app.schemas.job import FailedObservation, IngestResult, RenderResult

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = 256
Progress = Callable[[float, str], None]


def render_spec(observation: Observation, site: Site, preset: DisplayPreset | None) -> RenderSpec:
    """How tiles, thumbnails and chips draw ``observation`` with ``preset``, one it supports (None: its own
    bands): which bands, and the site's display ranges (8-bit images are shown as stored)."""
    if preset is DisplayPreset.HILLSHADE:
        return RenderSpec(indexes=(1,), ranges=None, mode=RenderMode.HILLSHADE)
    if preset is DisplayPreset.ELEVATION:
        return RenderSpec(indexes=(1,), ranges=_ranges(observation, site, (1,)), mode=RenderMode.ELEVATION)
    indexes = (preset_indexes(preset, observation.band_names) if preset else None) or own_bands(
        observation.band_names
    )
    return RenderSpec(indexes=indexes, ranges=_ranges(observation, site, indexes))


def default_render_spec(observation: Observation, site: Site, project_preset: DisplayPreset) -> RenderSpec:
    """The spec of what the observation shows without an explicit preset (bands.default_preset)."""
    preset, _ = default_preset(project_preset, observation.band_names, observation.dtype)
    return render_spec(observation, site, preset)


def _ranges(
    observation: Observation, site: Site, indexes: tuple[int, ...]
) -> tuple[tuple[float, float], ...] | None:
    if observation.dtype == "uint8":
        return None
    if not site.stretch:
        high = 65535.0 if observation.dtype == "uint16" else 1.0
        return tuple((0.0, high) for _ in indexes)
    return tuple((float(r[0]), float(r[1])) for r in (site.stretch.get(str(i), [0.0, 1.0]) for i in indexes))


def process_observations(
    session: Session,
    storage: Storage,
    observation_ids: list[uuid.UUID],
    tiles: TileSettings,
    progress: Progress,
    scratch: Path,
) -> IngestResult:
    """Convert each observation's original into a COG, then refresh its site's ranges and thumbnails.

    Each conversion is committed on its own, so a cut-short attempt keeps what it finished.

    Args:
        progress: told the fraction done and what is happening, also within one large image; it may raise
            (the job was cancelled) to stop between two blocks.
        scratch: the attempt's own folder for temporary files (removed by whoever owns it).
    """
    failed: list[FailedObservation] = []
    ready = 0
    sites: set[uuid.UUID] = set()
    total = len(observation_ids)
    share = 1 / (total + 1)  # the last share: display ranges and thumbnails
    for number, observation_id in enumerate(observation_ids, start=1):
        observation = session.get(Observation, observation_id)
        if observation is None:
            continue  # deleted meanwhile
        sites.add(observation.site_id)
        if observation.status is ObservationStatus.READY:
            ready += 1
            continue
        label = f"converting {observation.original_filename} ({number} of {total})"
        base = (number - 1) * share
        progress(base, label)
        try:
            _convert(storage, observation, scratch, _within(progress, base, share, label))
            observation.status = ObservationStatus.READY
            observation.error = None
            ready += 1
        except Exception as exc:
            if is_transient(exc):
                raise  # not the image's fault (the object store is unreachable): the job is retried
            logger.exception("conversion of %s failed", observation.original_filename)
            observation.status = ObservationStatus.FAILED
            observation.error = f"conversion failed: {exc}"
            failed.append(
                FailedObservation(id=observation.id, filename=observation.original_filename, error=str(exc))
            )
        session.commit()
    progress(total * share, "computing display ranges and thumbnails")
    for site_id in sites:
        refresh_site_rendering(session, storage, site_id, tiles)
    return IngestResult(ready=ready, failed=failed)


def _within(progress: Progress, base: float, share: float, label: str) -> Callable[[float], None]:
    """Progress of one image as a part (``share``, from ``base``) of the whole job."""

    def report(fraction: float) -> None:
        progress(base + fraction * share, f"{label}: {fraction:.0%}")

    return report


def _convert(
    storage: Storage, observation: Observation, scratch: Path, progress: Callable[[float], None]
) -> None:
    cog_key = f"{observation_prefix(observation.project_id, observation.id)}/cog.tif"
    # The row's georeferencing goes into the COG unless it is the file's own (or there is none).
    from_outside = observation.georef_source not in (GeorefSource.FILE, GeorefSource.NONE)
    write_cog(storage, observation, cog_key, scratch, progress, with_row_georeference=from_outside)
    observation.cog_key = cog_key


def write_cog(
    storage: Storage,
    observation: Observation,
    cog_key: str,
    scratch: Path,
    progress: Callable[[float], None],
    *,
    with_row_georeference: bool,
) -> None:
    """Convert the observation's original into a COG stored at ``cog_key``, carrying the row's CRS and
    transform when ``with_row_georeference`` (the original's own otherwise). Works in ``scratch``."""
    work = scratch / f"cog-{observation.id}"
    work.mkdir(parents=True, exist_ok=True)
    georeferenced = with_row_georeference and observation.crs is not None and observation.transform
    try:
        with gdal_env(storage):
            local_cog = work / "cog.tif"
            make_cog(
                storage.raster_path(observation.original_key),
                local_cog,
                crs=observation.crs if georeferenced else None,
                transform=Affine(*observation.transform) if georeferenced and observation.transform else None,
                on_progress=progress,
            )
            storage.put_file(local_cog, cog_key)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fail_unconverted_observations(session: Session, job: Job, reason: str) -> None:
    """When an ingest job ends without success, its observations still ``processing`` are marked failed
    (with the reason), so that none waits forever. Flushes."""
    for observation in repo.observations_of_ingest_job(session, job.id, ObservationStatus.PROCESSING):
        observation.status = ObservationStatus.FAILED
        observation.error = f"not converted: {reason}"
    session.flush()


def refresh_site_rendering(
    session: Session, storage: Storage, site_id: uuid.UUID, tiles: TileSettings
) -> None:
    """Recompute the site's display ranges over its ready observations and re-render their thumbnails and
    the stored top of their pixel pyramids (where the look changed)."""
    site = session.get(Site, site_id, with_for_update=True)
    if site is None:
        return
    observations = list(repo.ready_observations_of_site(session, site_id))
    project = session.get(Project, site.project_id)
    assert project is not None
    with gdal_env(storage):
        stretched = [o for o in observations if o.dtype != "uint8" and o.cog_key]
        if stretched:
            band_count = max(o.band_count for o in stretched)
            site.stretch = site_stretch(
                [storage.raster_path(o.cog_key) for o in stretched if o.cog_key], band_count
            )
        site.render_version += 1
        for observation in observations:
            assert observation.cog_key is not None
            spec = default_render_spec(observation, site, project.display_preset)
            image = read_preview(storage.raster_path(observation.cog_key), spec, THUMBNAIL_SIZE)
            key = f"{observation_prefix(observation.project_id, observation.id)}/thumbnail.jpg"
            storage.put_bytes(encode(image, spec, TileFormat.JPEG, tiles.jpeg_quality), key)
            observation.thumbnail_key = key
            write_pyramid(
                storage,
                storage.raster_path(observation.cog_key),
                observation_prefix(observation.project_id, observation.id),
                spec,
                width=observation.width,
                height=observation.height,
                jpeg_quality=tiles.jpeg_quality,
                max_tiles=tiles.pyramid_max_tiles,
            )
    session.commit()


def refresh_project_rendering(
    session: Session, storage: Storage, project_id: uuid.UUID, tiles: TileSettings, progress: Progress
) -> RenderResult:
    """Re-render every site's thumbnails (after a change of the project's display preset)."""
    sites = list(repo.list_sites(session, project_id))
    for number, site in enumerate(sites, start=1):
        progress((number - 1) / max(len(sites), 1), f"site {site.name} ({number} of {len(sites)})")
        refresh_site_rendering(session, storage, site.id, tiles)
    return RenderResult(sites=len(sites))
