"""Bringing images into a project: validate each file, store its original, record the observation.

Used by the upload API and the CLI alike. Every file is judged on its own: a bad file is reported with
the reason and leaves nothing behind, while the good files of the same batch are stored together in one
transaction (their originals are removed again if that transaction fails). Conversion into
Cloud-Optimized GeoTIFFs happens afterwards, in an ``ingest`` job (app.services.imagery_processing).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affine import Affine
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point, shape
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ConflictError, MineLabelError
from app.imagery.georef import SidecarEntry, footprint_wgs84, local_utm_transform
from app.imagery.storage import Storage, observation_prefix
from app.imagery.validation import RasterFacts, check_filename, inspect_image
from app.models.job import Job, JobKind
from app.models.observation import GeorefSource, Observation, ObservationStatus
from app.models.project import Project, Site
from app.repositories import imagery as repo
from app.schemas.job import IngestParams
from app.services.jobs import new_job

logger = logging.getLogger(__name__)

_SITE_AND_INDEX = re.compile(r"^(?P<site>.+)_(?P<index>\d+)$")


class DuplicateImageError(ConflictError):
    code = "duplicate_image"


class ObservationIndexTakenError(ConflictError):
    code = "observation_index_taken"


@dataclass(frozen=True)
class StagedFile:
    """A file received and written to a local staging folder, with its SHA-256."""

    filename: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Rejection:
    filename: str
    code: str
    message: str


@dataclass
class IngestBatch:
    observations: list[Observation] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    job: Job | None = None


@dataclass
class _Accepted:
    staged: StagedFile
    facts: RasterFacts
    site_name: str
    index: int | None
    entry: SidecarEntry | None


def site_and_index(filename: str, entry: SidecarEntry | None) -> tuple[str, int | None]:
    """``<site>_<index>.png`` names a site and its index; a sidecar entry overrides either."""
    stem = Path(filename).stem
    match = _SITE_AND_INDEX.match(stem)
    site, index = (match["site"], int(match["index"])) if match else (stem, None)
    if entry is not None:
        site = entry.site or site
        index = entry.index if entry.index is not None else index
    return site, index


def register_images(
    session: Session,
    storage: Storage,
    project: Project,
    files: list[StagedFile],
    sidecar: dict[str, SidecarEntry],
    settings: Settings,
    created_by: uuid.UUID | None = None,
) -> IngestBatch:
    """Validate ``files``, store the good ones and commit them with a queued ``ingest`` job.

    Returns the batch: observations (status processing), rejections with reasons, and the job (None
    when nothing was accepted). The caller enqueues the job after this returns.
    """
    batch = IngestBatch()
    existing = repo.observations_by_hash(session, project.id, [f.sha256 for f in files])
    seen: dict[str, str] = {}
    accepted: list[_Accepted] = []
    for staged in files:
        try:
            check_filename(staged.filename)
            if staged.sha256 in existing:
                twin = existing[staged.sha256]
                raise DuplicateImageError(
                    f"{staged.filename} is the same image as {twin.original_filename}, already in this "
                    f"project (observation {twin.id}); it was not stored again."
                )
            if staged.sha256 in seen:
                raise DuplicateImageError(
                    f"{staged.filename} is the same image as {seen[staged.sha256]} in this upload; "
                    "it was stored once."
                )
            facts = inspect_image(staged.path, staged.filename, settings.limits)
        except MineLabelError as exc:
            batch.rejected.append(Rejection(staged.filename, exc.code, str(exc)))
            continue
        seen[staged.sha256] = staged.filename
        entry = sidecar.get(staged.filename)
        site_name, index = site_and_index(staged.filename, entry)
        accepted.append(_Accepted(staged, facts, site_name, index, entry))
    if not accepted:
        return batch

    stored_prefixes: list[str] = []
    try:
        sites: dict[str, Site] = {}
        taken: dict[uuid.UUID, set[int]] = {}
        planned: list[tuple[Site, int, _Accepted, uuid.UUID]] = []
        for item in accepted:
            site = sites.get(item.site_name) or _get_or_create_site(session, project, item.site_name)
            sites[item.site_name] = site
            used = taken.setdefault(site.id, repo.used_indexes(session, site.id))
            index = item.index if item.index is not None else (max(used) + 1 if used else 0)
            if index in used:
                batch.rejected.append(
                    Rejection(
                        item.staged.filename,
                        ObservationIndexTakenError.code,
                        f"{item.staged.filename}: site {site.name} already has an observation with index "
                        f"{index}; rename the file or give another index in the sidecar.",
                    )
                )
                continue
            used.add(index)
            planned.append((site, index, item, uuid.uuid4()))
        if not planned:
            session.rollback()
            return batch
        # The job first (its observations point at it), knowing which observations it converts.
        job = new_job(
            JobKind.INGEST,
            IngestParams(
                observation_ids=[observation_id for *_, observation_id in planned],
                sam_embed=settings.sam.checkpoint is not None,
            ),
            project_id=project.id,
            created_by=created_by,
            settings=settings.jobs,
        )
        session.add(job)
        session.flush()
        for site, index, item, observation_id in planned:
            observation = _new_observation(project, site, index, item, job.id, observation_id)
            stored_prefixes.append(observation_prefix(project.id, observation.id))
            storage.put_file(item.staged.path, observation.original_key)
            session.add(observation)
            batch.observations.append(observation)
            if site.location is None:
                site.location = _site_location(item, observation)
        session.commit()
        batch.job = job
    except BaseException:
        session.rollback()
        for prefix in stored_prefixes:
            storage.delete_prefix(prefix)
        raise
    logger.info("registered %d image(s) in project %s, rejected %d", len(batch.observations), project.name,
                len(batch.rejected))  # fmt: skip
    return batch


def undo_batch(session: Session, storage: Storage, batch: IngestBatch) -> None:
    """Remove a committed batch again (its job could not be queued): rows first, then files."""
    prefixes = [observation_prefix(o.project_id, o.id) for o in batch.observations]
    site_ids = {o.site_id for o in batch.observations}
    for observation in batch.observations:
        session.delete(observation)
    session.flush()
    for site_id in site_ids:
        if not repo.used_indexes(session, site_id):
            session.execute(delete(Site).where(Site.id == site_id))
    session.commit()
    for prefix in prefixes:
        storage.delete_prefix(prefix)
    batch.observations.clear()


def _get_or_create_site(session: Session, project: Project, name: str) -> Site:
    site = repo.get_site_by_name(session, project.id, name, for_update=True)
    if site is None:
        site = Site(id=uuid.uuid4(), project_id=project.id, name=name, external_id=name)
        session.add(site)
        session.flush()
    return site


def _new_observation(
    project: Project, site: Site, index: int, item: _Accepted, job_id: uuid.UUID, observation_id: uuid.UUID
) -> Observation:
    facts, entry = item.facts, item.entry
    crs, transform, source = facts.crs, facts.transform, GeorefSource.FILE
    if crs is None:
        if entry is not None and entry.can_georeference:
            crs, affine = local_utm_transform(entry, facts.width, facts.height)
            transform = tuple(affine)[:6]
            source = GeorefSource.SIDECAR
        else:
            source = GeorefSource.NONE
    footprint: Any = None
    if crs is not None and transform is not None:
        polygon = footprint_wgs84(crs, Affine(*transform), facts.width, facts.height)
        footprint = from_shape(shape(polygon), srid=4326)
    suffix = Path(item.staged.filename).suffix.lower()
    return Observation(
        id=observation_id,
        project_id=project.id,
        site_id=site.id,
        index=index,
        acquired_on=entry.acquired_on if entry else None,
        original_filename=item.staged.filename,
        content_hash=item.staged.sha256,
        size_bytes=item.staged.size,
        driver=facts.driver,
        width=facts.width,
        height=facts.height,
        band_count=facts.band_count,
        band_names=facts.band_names,
        dtype=facts.dtype,
        nodata=facts.nodata,
        has_alpha=facts.has_alpha,
        georef_source=source,
        crs=crs,
        transform=list(transform) if transform else None,
        footprint=footprint,
        status=ObservationStatus.PROCESSING,
        original_key=f"{observation_prefix(project.id, observation_id)}/original{suffix}",
        ingest_job_id=job_id,
    )


def _site_location(item: _Accepted, observation: Observation) -> Any:
    entry = item.entry
    if entry is not None and entry.center_lat is not None and entry.center_lon is not None:
        return from_shape(Point(entry.center_lon, entry.center_lat), srid=4326)
    if observation.footprint is not None:
        return from_shape(to_shape(observation.footprint).centroid, srid=4326)
    return None
