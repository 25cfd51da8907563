"""Corrections after upload: an observation's georeferencing and acquisition date, audited.

Regions keep their pixel geometry (it is canonical); their EPSG:4326 copies and hectares, the footprint and
the site's location follow the new georeferencing at once, in PostGIS. The COG carries the georeferencing
that Web Mercator tiles are cut with, so it is written again in a ``georeference`` job (``rewrite_cog``),
which then bumps the site's render version so that no cached tile of the old placement is shown
(docs/adr/2026-12-01-exact-georeferencing-in-the-given-crs.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import JobSettings
from app.core.errors import ConflictError
from app.imagery.georef import (
    Georeference,
    GeoreferenceError,
    bbox_transform,
    centre_transform,
    check_bbox,
    check_transform,
    checked_footprint,
    parse_crs,
    world_file_transform,
)
from app.imagery.storage import Storage, observation_prefix
from app.models.job import Job, JobKind
from app.models.observation import AcquiredSource, GeorefSource, Observation, ObservationStatus
from app.models.project import Site
from app.repositories.labels import rederive_wgs84
from app.schemas.imagery import GeoreferenceUpdate
from app.schemas.job import GeoreferenceParams, GeoreferenceResult
from app.services.imagery_processing import write_cog
from app.services.jobs import new_job
from app.services.workflow import audit, lock_task

Progress = Callable[[float, str], None]
FIELD = "georeference"


class ObservationBusyError(ConflictError):
    code = "observation_not_ready"


class NothingToChangeError(GeoreferenceError):
    code = "nothing_to_change"


@dataclass
class Correction:
    observation: Observation
    job: Job | None  # to enqueue once the caller has committed
    regions_updated: int


def correct_observation(
    session: Session,
    observation_id: uuid.UUID,
    *,
    georeference: GeoreferenceUpdate | None,
    redate: bool,
    acquired_on: date | None,
    actor_id: uuid.UUID | None,
    jobs: JobSettings,
) -> Correction:
    """Apply a correction and audit it (``georeference`` and ``redate`` events with before and after);
    flushes. The caller commits, then enqueues the correction's job.

    Args:
        georeference: the new georeferencing, or None to keep it.
        redate: whether to set the acquisition date to ``acquired_on`` (None clears it).

    Raises:
        GeoreferenceError: a bad georeferencing, naming the field (``georeference.bbox``, ...).
        ObservationBusyError: the image is still being converted (its COG would miss the correction).
    """
    if georeference is None and not redate:
        raise NothingToChangeError(
            "Nothing to change: send georeference, acquired_on, or both.", field="georeference"
        )
    observation = lock_task(session, observation_id)
    placed = resolve(georeference, observation.width, observation.height) if georeference else None
    correction = Correction(observation, None, 0)
    if placed is not None:
        if observation.status is ObservationStatus.PROCESSING:
            raise ObservationBusyError(
                f"Observation {observation.id} is still being converted; correct its georeferencing once it "
                "is ready."
            )
        correction = _georeference(session, observation, placed, actor_id, jobs)
    if redate:
        _redate(session, observation, acquired_on, actor_id)
    session.flush()
    return correction


def resolve(update: GeoreferenceUpdate, width: int, height: int) -> tuple[Georeference, dict[str, Any]]:
    """The georeferencing an update describes, checked, with its footprint (GeoJSON in EPSG:4326)."""
    ways = {
        "bbox": update.bbox is not None,
        "center_lat": update.center_lat is not None or update.center_lon is not None,
        "transform": update.transform is not None,
        "world_file": update.world_file is not None,
    }
    given = [name for name, present in ways.items() if present]
    if len(given) != 1:
        what = f"got {', '.join(given)}" if given else "got none"
        raise GeoreferenceError(
            "georeference: give exactly one of bbox (with crs), center_lat + center_lon with an extent, "
            f"transform (with crs) or world_file (with crs); {what}.",
            field=f"{FIELD}.{given[1] if len(given) > 1 else 'bbox'}",
        )
    (way,) = given
    crs = parse_crs(update.crs, field=f"{FIELD}.crs") if update.crs is not None else None
    if way == "bbox":
        assert update.bbox is not None
        west, south, east, north = update.bbox
        crs = crs or "EPSG:4326"
        check_bbox((west, south, east, north), crs, field=f"{FIELD}.bbox")
        placed = Georeference(crs, bbox_transform((west, south, east, north), width, height))
    elif way == "center_lat":
        placed = _centre(update, crs, width, height)
    else:
        numbers = tuple((update.transform if way == "transform" else update.world_file) or ())
        if crs is None:
            raise GeoreferenceError(f"georeference.crs: a {way} needs its crs.", field=f"{FIELD}.crs")
        field = f"{FIELD}.{way}"
        affine = (
            check_transform(numbers, field) if way == "transform" else world_file_transform(numbers, field)
        )
        placed = Georeference(crs, affine)
    footprint = checked_footprint(placed, width, height, field=f"{FIELD}.{way}")
    return placed, footprint


def _centre(update: GeoreferenceUpdate, crs: str | None, width: int, height: int) -> Georeference:
    if update.center_lat is None or update.center_lon is None:
        missing = "center_lon" if update.center_lon is None else "center_lat"
        raise GeoreferenceError(
            f"georeference.{missing}: give both center_lat and center_lon.", field=f"{FIELD}.{missing}"
        )
    if crs is not None:
        raise GeoreferenceError(
            "georeference.crs: a centre is always latitude and longitude with an extent in metres; crs goes "
            "with bbox, transform or world_file.",
            field=f"{FIELD}.crs",
        )
    extent_x = update.extent_x_m or update.extent_m
    extent_y = update.extent_y_m or update.extent_m
    if extent_x is None or extent_y is None:
        raise GeoreferenceError(
            "georeference.extent_m: a centre needs extent_m, or extent_x_m and extent_y_m.",
            field=f"{FIELD}.extent_m",
        )
    return centre_transform(update.center_lat, update.center_lon, extent_x, extent_y, width, height)


def _georeference(
    session: Session,
    observation: Observation,
    placed: tuple[Georeference, dict[str, Any]],
    actor_id: uuid.UUID | None,
    jobs: JobSettings,
) -> Correction:
    georeference, footprint = placed
    before = _placement(observation)
    observation.crs = georeference.crs
    observation.transform = georeference.as_list()
    observation.footprint = from_shape(shape(footprint), srid=4326)
    observation.georef_source = GeorefSource.MANUAL
    regions = rederive_wgs84(session, observation.id, georeference.crs, georeference.as_list())
    site = session.get(Site, observation.site_id, with_for_update=True)
    assert site is not None
    # New tile URLs at once: no tile cached under the old placement is served (until the job is done, Web
    # Mercator tiles wait; it moves the version on again when the image carries the new placement).
    site.render_version += 1
    if not _others_placed(session, observation):
        # The site's location came from this image (its only placed one): it moves with it.
        site.location = from_shape(shape(footprint).centroid, srid=4326)
    job = None
    if observation.status is ObservationStatus.READY and observation.cog_key is not None:
        job = new_job(
            JobKind.GEOREFERENCE,
            GeoreferenceParams(observation_id=observation.id),
            project_id=observation.project_id,
            created_by=actor_id,
            settings=jobs,
        )
        session.add(job)
        session.flush()
        observation.georeference_job_id = job.id
    detail: dict[str, Any] = {"before": before, "after": _placement(observation), "regions_updated": regions}
    detail["job_id"] = str(job.id) if job else None
    audit(session, observation, observation.project_id, actor_id, "georeference", None, None, **detail)
    return Correction(observation, job, regions)


def _redate(
    session: Session, observation: Observation, acquired_on: date | None, actor_id: uuid.UUID | None
) -> None:
    before = {
        "acquired_on": _iso(observation.acquired_on),
        "acquired_source": observation.acquired_source.value,
    }
    observation.acquired_on = acquired_on
    observation.acquired_source = AcquiredSource.MANUAL if acquired_on else AcquiredSource.NONE
    after = {
        "acquired_on": _iso(observation.acquired_on),
        "acquired_source": observation.acquired_source.value,
    }
    audit(session, observation, observation.project_id, actor_id, "redate", before=before, after=after)


def _placement(observation: Observation) -> dict[str, Any]:
    return {
        "georef_source": observation.georef_source.value,
        "crs": observation.crs,
        "transform": list(observation.transform) if observation.transform else None,
    }


def _others_placed(session: Session, observation: Observation) -> bool:
    return (
        session.scalar(
            select(Observation.id)
            .where(
                Observation.site_id == observation.site_id,
                Observation.id != observation.id,
                Observation.footprint.is_not(None),
            )
            .limit(1)
        )
        is not None
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def rewrite_cog(
    session: Session,
    storage: Storage,
    job_id: uuid.UUID,
    observation_id: uuid.UUID,
    progress: Progress,
    scratch: Path,
) -> GeoreferenceResult:
    """The ``georeference`` job: the observation's original as a COG again, with the row's georeferencing,
    under a name of its own; then the row points at it and the site's render version moves on (new tile
    URLs), and the old COG is removed.

    Idempotent and safe against a later correction: the job only swaps when the row still names it (a
    second correction names its own job; a finished attempt named none).
    """
    observation = session.get(Observation, observation_id)
    if observation is None or observation.georeference_job_id != job_id:
        return GeoreferenceResult(written=False)
    key = f"{observation_prefix(observation.project_id, observation.id)}/cog-{job_id.hex[:12]}.tif"
    label = f"writing {observation.original_filename} with its new georeferencing"
    session.commit()  # no transaction held open while the image is written
    write_cog(
        storage,
        observation,
        key,
        scratch,
        lambda fraction: progress(fraction * 0.95, f"{label}: {fraction:.0%}"),
        with_row_georeference=True,
    )
    session.refresh(observation, with_for_update=True)
    if observation.georeference_job_id != job_id:  # corrected again meanwhile: that job writes it
        session.commit()
        storage.delete_prefix(key)
        return GeoreferenceResult(written=False)
    old_key = observation.cog_key
    observation.cog_key = key
    observation.georeference_job_id = None
    site = session.get(Site, observation.site_id, with_for_update=True)
    assert site is not None
    site.render_version += 1
    session.commit()
    if old_key is not None and old_key != key:
        storage.delete_prefix(old_key)  # one file: a key is its own prefix
    return GeoreferenceResult(written=True, cog_key=key)
