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
from datetime import date
from pathlib import Path
from typing import Any

from affine import Affine
from geoalchemy2.shape import from_shape
from shapely.geometry import Point, shape
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ConflictError, InvalidInputError, MineLabelError
from app.imagery.auxiliary import (
    MAX_AUXILIARY_BYTES,
    AuxiliaryFile,
    AuxiliaryFileError,
    AuxiliaryKind,
    AuxiliaryUnusedError,
    auxiliary_kind,
    georeference_of,
    match_auxiliaries,
)
from app.imagery.dates import date_from_filename
from app.imagery.georef import Georeference, GeoreferenceError, checked_footprint, crs_name, same_crs
from app.imagery.sidecar import SidecarEntry
from app.imagery.storage import Storage, observation_prefix
from app.imagery.validation import RasterFacts, check_filename, inspect_image
from app.models.job import Job, JobKind
from app.models.observation import AcquiredSource, GeorefSource, Observation, ObservationStatus
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


class GeoreferenceConflictError(InvalidInputError):
    """Two sources place one image (its own tags, the sidecar, a world file), or a CRS places nothing."""

    code = "georeference_conflict"


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
    placement: _Placement


@dataclass(frozen=True)
class _Placement:
    """Where an accepted image lies and when it was taken, with where each came from."""

    georeference: Georeference | None
    georef_source: GeorefSource
    footprint: dict[str, Any] | None
    acquired_on: date | None
    acquired_source: AcquiredSource


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

    ``files`` may hold, beside the images, their world files, .prj and .aux.xml (app.imagery.auxiliary):
    they place their image and are not stored.

    Returns the batch: observations (status processing), rejections with reasons, and the job (None
    when nothing was accepted). The caller enqueues the job after this returns.
    """
    batch = IngestBatch()
    images = [f for f in files if auxiliary_kind(f.filename) is None]
    auxiliaries = _read_auxiliaries([f for f in files if auxiliary_kind(f.filename) is not None], batch)
    matched = match_auxiliaries([f.filename for f in images], auxiliaries)
    for name in matched.unmatched:
        batch.rejected.append(
            Rejection(
                name,
                AuxiliaryUnusedError.code,
                f"{name} belongs to no image of this upload (a world file or .prj goes with the image of the "
                "same name, an .aux.xml with <image name>.aux.xml); it was not used.",
            )
        )
    existing = repo.observations_by_hash(session, project.id, [f.sha256 for f in images])
    seen: dict[str, str] = {}
    accepted: list[_Accepted] = []
    for staged in images:
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
            entry = sidecar.get(staged.filename)
            aux = matched.by_image.get(staged.filename, [])
            placement, unused = _place(staged.filename, facts, entry, aux)
        except MineLabelError as exc:
            batch.rejected.append(Rejection(staged.filename, exc.code, str(exc)))
            continue
        for name, reason in unused:
            batch.rejected.append(
                Rejection(name, AuxiliaryUnusedError.code, f"{name} was not used: {reason}")
            )
        seen[staged.sha256] = staged.filename
        site_name, index = site_and_index(staged.filename, entry)
        accepted.append(_Accepted(staged, facts, site_name, index, entry, placement))
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
    facts, placement = item.facts, item.placement
    georeference = placement.georeference
    footprint: Any = None
    if placement.footprint is not None:
        footprint = from_shape(shape(placement.footprint), srid=4326)
    suffix = Path(item.staged.filename).suffix.lower()
    return Observation(
        id=observation_id,
        project_id=project.id,
        site_id=site.id,
        index=index,
        acquired_on=placement.acquired_on,
        acquired_source=placement.acquired_source,
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
        georef_source=placement.georef_source,
        crs=georeference.crs if georeference else None,
        transform=georeference.as_list() if georeference else None,
        footprint=footprint,
        status=ObservationStatus.PROCESSING,
        original_key=f"{observation_prefix(project.id, observation_id)}/original{suffix}",
        ingest_job_id=job_id,
    )


def _read_auxiliaries(files: list[StagedFile], batch: IngestBatch) -> list[AuxiliaryFile]:
    """The auxiliary files' contents; one too large for what it claims to be is rejected unread."""
    read = []
    for staged in files:
        kind = auxiliary_kind(staged.filename)
        assert kind is not None
        if staged.size > MAX_AUXILIARY_BYTES:
            message = (
                f"{staged.filename}: {staged.size:,} bytes is too large for a {kind.value.replace('_', ' ')} "
                f"file (at most {MAX_AUXILIARY_BYTES:,})."
            )
            batch.rejected.append(Rejection(staged.filename, AuxiliaryFileError.code, message))
            continue
        read.append(AuxiliaryFile(staged.filename, kind, staged.path.read_bytes()))
    return read


def _place(
    name: str, facts: RasterFacts, entry: SidecarEntry | None, aux: list[AuxiliaryFile]
) -> tuple[_Placement, list[tuple[str, str]]]:
    """Where the image lies (its own tags, else the sidecar or its world file: never two of them) and when it
    was taken (the sidecar, else its tags, else its name); also the auxiliary files it did not need, and why.

    Raises:
        GeoreferenceConflictError, AuxiliaryFileError, GeoreferenceError: naming the file.
    """
    sidecar_places = entry is not None and entry.places_image
    unused: list[tuple[str, str]] = []
    georeference: Georeference | None = None
    if facts.crs is not None and facts.transform is not None:
        own = crs_name(facts.crs)
        world_files = [a.name for a in aux if a.kind is AuxiliaryKind.WORLD_FILE]
        if sidecar_places or world_files:
            other = " and ".join(world_files) if world_files else "the sidecar's bbox or centre"
            raise GeoreferenceConflictError(
                f"{name} carries its own georeferencing ({own}), which {other} would replace. Leave them "
                "out, or correct the georeferencing after upload (PATCH /api/observations/{id})."
            )
        if entry is not None and entry.crs is not None and not same_crs(entry.crs, facts.crs):
            raise GeoreferenceConflictError(
                f"{name} carries its own georeferencing ({own}), but the sidecar gives it the crs "
                f"{crs_name(entry.crs)}. Leave the crs out, or correct the georeferencing after upload."
            )
        unused = [(a.name, f"{name} carries its own georeferencing ({own}).") for a in aux]
        georeference, source = Georeference(facts.crs, Affine(*facts.transform)), GeorefSource.FILE
    else:
        from_aux, unused_names = (
            georeference_of(name, aux, entry.crs if entry else None) if aux else (None, [])
        )
        if from_aux is not None and sidecar_places:
            raise GeoreferenceConflictError(
                f"{name}: both the sidecar (its bbox or centre) and {', '.join(a.name for a in aux)} place "
                "the image; give only one of them."
            )
        reason = (
            "a CRS file goes with a world file (.pgw, .jgw, .wld) that places the image; for a sidecar bbox, "
            "give its crs in the sidecar."
        )
        unused = [(unused_name, reason) for unused_name in unused_names]
        if from_aux is not None:
            georeference, source = from_aux, GeorefSource.WORLD_FILE
        elif entry is not None and entry.places_image:
            georeference = entry.georeference(facts.width, facts.height)
            source = GeorefSource.SIDECAR
        elif entry is not None and entry.crs is not None:
            raise GeoreferenceConflictError(
                f"{name}: the sidecar gives a crs, but neither a bbox nor a world file places the image; "
                f"send its world file ({Path(name).stem}.wld) or give west, south, east and north."
            )
        else:
            source = GeorefSource.NONE
    footprint = None
    if georeference is not None:
        field = "the sidecar's placement" if source is GeorefSource.SIDECAR else "its georeferencing"
        try:
            footprint = checked_footprint(georeference, facts.width, facts.height, field=field)
        except GeoreferenceError as exc:
            raise GeoreferenceError(f"{name}, {exc}", field=exc.field) from exc
    acquired_on, acquired_source = _acquisition(name, facts, entry)
    placement = _Placement(georeference, source, footprint, acquired_on, acquired_source)
    return placement, unused


def _acquisition(
    name: str, facts: RasterFacts, entry: SidecarEntry | None
) -> tuple[date | None, AcquiredSource]:
    if entry is not None and entry.acquired_on is not None:
        return entry.acquired_on, AcquiredSource.SIDECAR
    if facts.acquired_on is not None:
        return facts.acquired_on, AcquiredSource.METADATA
    if (from_name := date_from_filename(name)) is not None:
        return from_name, AcquiredSource.FILENAME
    return None, AcquiredSource.NONE


def _site_location(item: _Accepted, observation: Observation) -> Any:
    entry = item.entry
    if entry is not None and entry.center_lat is not None and entry.center_lon is not None:
        return from_shape(Point(entry.center_lon, entry.center_lat), srid=4326)
    if item.placement.footprint is not None:
        return from_shape(shape(item.placement.footprint).centroid, srid=4326)
    return None
