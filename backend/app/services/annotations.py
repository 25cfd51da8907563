"""Annotations: whole-annotation saves that are checked, versioned and recorded, never silently lost.

Every save names the annotation version it was based on; a stale one raises VersionConflictError with the
current state. Each region created, changed or deleted writes a revision (before/after) in the same
transaction, deletes are tombstones, and any earlier version can be restored as a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import geometry as shp
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.interop.labeling_config import parse_labeling_config
from app.labels.geometry import GeometryChangeCode, check_region_geometry, count_vertices, pixel_to_wgs84
from app.labels.regions import RegionRef, check_label
from app.labels.topology import TopologyRule, TopologyWarning, topology_warning
from app.models.annotation import Annotation, Region, RegionSource, Revision, RevisionAction
from app.models.observation import Observation
from app.models.project import Project
from app.repositories.labels import geodesic_area_ha, postgis_make_valid
from app.services import ground_truth


class AnnotationNotFoundError(NotFoundError):
    code = "annotation_not_found"


class VersionConflictError(ConflictError):
    code = "version_conflict"


class RegionIdTakenError(ConflictError):
    code = "region_id_taken"


class AnnotationTooLargeError(InvalidInputError):
    code = "annotation_too_large"


@dataclass(frozen=True)
class RegionInput:
    label: str
    geometry: Any
    id: uuid.UUID | None = None
    source: RegionSource = RegionSource.HUMAN
    score: float | None = None
    accepted_from: uuid.UUID | None = None
    carried_from: uuid.UUID | None = None  # predictions: the region on the previous date it continues
    position: int | None = None  # its 0-based index in the request's list, for error bodies


@dataclass(frozen=True)
class RegionChange:
    """What repair or clip did to one region's geometry."""

    region_id: uuid.UUID
    code: GeometryChangeCode
    message: str


@dataclass
class SaveResult:
    annotation: Annotation
    regions: list[Region]
    changes: list[RegionChange] = field(default_factory=list)  # what repair/clip did, per region
    warnings: list[TopologyWarning] = field(default_factory=list)  # topology rules, per region


def snapshot(region: Region) -> dict[str, Any]:
    """A region as stored in revisions (and restored from them)."""
    return {
        "id": str(region.id),
        "label": region.label,
        "source": region.source.value,
        "score": region.score,
        "accepted_from": str(region.accepted_from) if region.accepted_from else None,
        "geometry": shp.mapping(to_shape(region.geom)),
        "version": region.version,
    }


def live_regions(session: Session, annotation_id: uuid.UUID) -> list[Region]:
    return list(
        session.scalars(
            select(Region)
            .where(Region.annotation_id == annotation_id, Region.deleted_at.is_(None))
            .order_by(Region.created_at, Region.id)
        )
    )


def get_annotation_or_raise(
    session: Session, annotation_id: uuid.UUID, *, for_update: bool = False
) -> Annotation:
    stmt = select(Annotation).where(Annotation.id == annotation_id, Annotation.deleted_at.is_(None))
    annotation = session.scalars(stmt.with_for_update() if for_update else stmt).one_or_none()
    if annotation is None:
        raise AnnotationNotFoundError(f"No annotation with id {annotation_id}.")
    return annotation


def create_annotation(
    session: Session,
    observation: Observation,
    regions: list[RegionInput],
    limits: LimitSettings,
    *,
    user_id: uuid.UUID | None = None,
    repair: bool = False,
    clip: bool = False,
    commit: bool = True,
    **fields: Any,
) -> SaveResult:
    """Create an annotation with its regions. ``commit=False`` only flushes, for callers that store many
    things in one transaction (imports); ``fields`` set more Annotation columns (lead_time, import_key...)."""
    ground_truth.ensure_editable(observation)
    annotation = Annotation(
        id=uuid.uuid4(), project_id=observation.project_id, observation_id=observation.id, created_by=user_id,
        **fields,
    )  # fmt: skip
    session.add(annotation)
    session.flush()
    session.add(Revision(annotation_id=annotation.id, action=RevisionAction.CREATE, annotation_version=1,
                         user_id=user_id))  # fmt: skip
    return _apply(session, annotation, observation, regions, limits, user_id, repair, clip, bump=False,
                  commit=commit)  # fmt: skip


def save_annotation(
    session: Session,
    annotation_id: uuid.UUID,
    based_on_version: int,
    regions: list[RegionInput],
    limits: LimitSettings,
    *,
    user_id: uuid.UUID | None = None,
    repair: bool = False,
    clip: bool = False,
    action: RevisionAction = RevisionAction.UPDATE,
) -> SaveResult:
    """Make the annotation's regions exactly ``regions`` (by id: create, update, delete), atomically."""
    annotation = get_annotation_or_raise(session, annotation_id, for_update=True)
    observation = session.get(Observation, annotation.observation_id)
    assert observation is not None
    ground_truth.ensure_editable(observation)
    check_version(session, annotation, based_on_version)
    return _apply(session, annotation, observation, regions, limits, user_id, repair, clip, bump=True,
                  action=action)  # fmt: skip


class CopySourceError(InvalidInputError):
    code = "copy_source_invalid"


def copy_of(session: Session, observation: Observation, annotation_id: uuid.UUID) -> list[RegionInput]:
    """The live regions of another annotation of the same task, as new regions (new ids) to start from."""
    source = session.get(Annotation, annotation_id)
    if source is None or source.deleted_at is not None or source.observation_id != observation.id:
        raise CopySourceError(
            f"copy_from: {annotation_id} is not a live annotation of this task; copy one of its own."
        )
    return [replace(_as_input(region), id=None) for region in live_regions(session, source.id)]


def check_version(session: Session, annotation: Annotation, based_on_version: int) -> None:
    """Refuse a change based on another version than the current one (409 with the current state)."""
    if annotation.version == based_on_version:
        return
    current = live_regions(session, annotation.id)
    session.rollback()
    raise VersionConflictError(
        f"Annotation {annotation.id} is at version {annotation.version}, not {based_on_version}: someone "
        "saved it meanwhile. Nothing was changed; merge with the current state and save again.",
        current={"version": annotation.version, "regions": [snapshot(r) for r in current]},
    )


def delete_annotation(
    session: Session, annotation_id: uuid.UUID, based_on_version: int, user_id: uuid.UUID | None = None
) -> None:
    result = save_annotation(session, annotation_id, based_on_version, [], LimitSettings(), user_id=user_id)
    annotation = result.annotation
    annotation.deleted_at = datetime.now(UTC)
    session.add(Revision(annotation_id=annotation.id, action=RevisionAction.DELETE,
                         annotation_version=annotation.version, user_id=user_id))  # fmt: skip
    session.commit()


def regions_at_version(session: Session, annotation_id: uuid.UUID, version: int) -> list[RegionInput]:
    """The annotation's regions as they were at ``version``, replayed from its revisions."""
    state: dict[str, dict[str, Any]] = {}
    revisions = session.scalars(
        select(Revision)
        .where(Revision.annotation_id == annotation_id, Revision.annotation_version <= version)
        .order_by(Revision.id)
    )
    for revision in revisions:
        if revision.region_id is None:
            continue
        if revision.after is None:
            state.pop(str(revision.region_id), None)
        else:
            state[str(revision.region_id)] = revision.after
    return [
        RegionInput(
            id=uuid.UUID(r["id"]),
            label=r["label"],
            geometry=r["geometry"],
            source=RegionSource(r["source"]),
            score=r["score"],
            accepted_from=uuid.UUID(r["accepted_from"]) if r["accepted_from"] else None,
        )
        for r in state.values()
    ]


def _apply(
    session: Session,
    annotation: Annotation,
    observation: Observation,
    inputs: list[RegionInput],
    limits: LimitSettings,
    user_id: uuid.UUID | None,
    repair: bool,
    clip: bool,
    *,
    bump: bool,
    action: RevisionAction = RevisionAction.UPDATE,
    commit: bool = True,
) -> SaveResult:
    check_total_vertices(inputs, limits)
    project = session.get(Project, observation.project_id)
    assert project is not None
    classes = parse_labeling_config(project.labeling_config).class_names
    existing = {r.id: r for r in live_regions(session, annotation.id)}
    version = annotation.version + 1 if bump else annotation.version
    result = SaveResult(annotation=annotation, regions=[])
    seen: set[uuid.UUID] = set()
    changed = False
    for number, item in enumerate(inputs, start=1):
        ref = region_ref(number, item)
        check_label(item.label, ref, classes)
        if item.id is not None and item.id in seen:
            raise InvalidInputError(
                f"Region {ref.name}: the id {item.id} is used twice in this save.", **ref.error_fields()
            )
        checked = check_region_geometry(
            item.geometry, region=ref, width=observation.width, height=observation.height,
            max_vertices=limits.max_polygon_vertices, repair=repair, clip=clip,
            make_valid=postgis_make_valid(session),
        )  # fmt: skip
        region = existing.get(item.id) if item.id else None
        if region is None and item.id is not None:
            region = session.get(Region, item.id)
            if region is not None and region.annotation_id != annotation.id:
                raise RegionIdTakenError(
                    f"Region {ref.name}: id {item.id} belongs to another annotation.", **ref.error_fields()
                )
        if region is None:
            region = Region(
                id=item.id or uuid.uuid4(), project_id=annotation.project_id, observation_id=observation.id,
                annotation_id=annotation.id, version=1,
            )  # fmt: skip
            fill_region(session, region, item, checked.geometry, observation)
            session.add(region)
            session.flush()
            session.add(
                _revision(annotation, region, RevisionAction.CREATE, version, None, snapshot(region), user_id)
            )
            changed = True
        elif region.deleted_at is not None:
            # A region of this annotation deleted earlier comes back (an undo, or a restore).
            region.deleted_at = None
            region.version += 1
            fill_region(session, region, item, checked.geometry, observation)
            revived = RevisionAction.RESTORE if action is RevisionAction.RESTORE else RevisionAction.CREATE
            session.add(_revision(annotation, region, revived, version, None, snapshot(region), user_id))
            changed = True
        else:
            unchanged = (region.label, region.source, region.score, region.accepted_from) == (
                item.label,
                item.source,
                item.score,
                item.accepted_from,
            ) and to_shape(region.geom).equals_exact(checked.geometry, 0)
            if not unchanged:
                # Only a changed region pays for deriving EPSG:4326 and its area again.
                before = snapshot(region)
                fill_region(session, region, item, checked.geometry, observation)
                after = snapshot(region)
                region.version += 1
                region.updated_at = datetime.now(UTC)
                after["version"] = region.version
                session.add(_revision(annotation, region, action, version, before, after, user_id))
                changed = True
        seen.add(region.id)
        result.regions.append(region)
        result.changes += [RegionChange(region.id, c.code, c.message) for c in checked.changes]
    for region_id, region in existing.items():
        if region_id not in seen:
            region.deleted_at = datetime.now(UTC)
            session.add(
                _revision(annotation, region, RevisionAction.DELETE, version, snapshot(region), None, user_id)
            )
            changed = True
    if bump and changed:
        annotation.version = version
        annotation.updated_at = datetime.now(UTC)
    elif bump:
        # Nothing changed: no new version, no revision; the save is a no-op.
        session.rollback()
        session.refresh(annotation)
        result.regions = live_regions(session, annotation.id)
        result.warnings = topology_warnings(session, annotation.id, classes)
        return result
    if commit:
        session.commit()
    else:
        session.flush()
        return result
    result.warnings = topology_warnings(session, annotation.id, classes)
    return result


def check_total_vertices(inputs: list[RegionInput], limits: LimitSettings) -> None:
    """Refuse an annotation whose regions together pass LIMITS__MAX_ANNOTATION_VERTICES, before any of them
    is checked: every save and every 409 carries the whole state, so its size bounds a request's cost."""
    total = sum(count_vertices(item.geometry) for item in inputs)
    if total > limits.max_annotation_vertices:
        raise AnnotationTooLargeError(
            f"The annotation's regions have {total:,} vertices together, more than the limit of "
            f"{limits.max_annotation_vertices:,} (LIMITS__MAX_ANNOTATION_VERTICES); simplify them or "
            "split the work over fewer, smaller regions.",
            setting="LIMITS__MAX_ANNOTATION_VERTICES",
            vertices=total,
            limit=limits.max_annotation_vertices,
        )


def region_ref(number: int, item: RegionInput) -> RegionRef:
    """How problems name the ``number``-th (1-based) region of a save, with its id and request position."""
    return RegionRef(f"{number} ({item.id})" if item.id else str(number), item.id, item.position)


def fill_region(
    session: Session, region: Region, item: RegionInput, geometry: shp.MultiPolygon, obs: Observation
) -> None:
    region.label = item.label
    region.source = item.source
    region.score = item.score
    region.accepted_from = item.accepted_from
    region.carried_from = item.carried_from
    region.geom = from_shape(geometry, srid=0)
    region.area_px = float(geometry.area)
    if obs.crs and obs.transform:
        wgs84 = pixel_to_wgs84(geometry, obs.crs, obs.transform)
        region.geom_wgs84 = from_shape(wgs84, srid=4326)
        region.area_ha = geodesic_area_ha(session, wgs84)
    else:
        region.geom_wgs84 = None
        region.area_ha = None


def _revision(
    annotation: Annotation,
    region: Region,
    action: RevisionAction,
    version: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    user_id: uuid.UUID | None,
) -> Revision:
    return Revision(
        annotation_id=annotation.id, region_id=region.id, action=action, annotation_version=version,
        before=before, after=after, user_id=user_id,
    )  # fmt: skip


# Each Pit and Infrastructure is checked only against the regions whose boxes touch it, found through the
# (observation_id, geom) GiST index: the cost grows with the regions, not with their pairs. (The first
# version compared every Pit with the union of all Outlines and every Pit with every Infrastructure: 15 s
# for 2,000 regions, and the union was recomputed per row where the planner lacked statistics.)
TOPOLOGY_SQL = text(
    """
    WITH obs AS MATERIALIZED (
        SELECT observation_id AS id FROM annotations WHERE id = :a
    ), parts AS MATERIALIZED (
        SELECT id, label, geom FROM regions
         WHERE annotation_id = :a AND deleted_at IS NULL AND label IN ('Pit', 'Infrastructure')
    )
    SELECT l.id, 'outside_outline' AS rule, NULL::uuid AS other
      FROM parts l
     WHERE EXISTS (SELECT 1 FROM regions o
                    WHERE o.annotation_id = :a AND o.deleted_at IS NULL AND o.label = 'Outline')
       AND NOT COALESCE((
           SELECT ST_CoveredBy(l.geom, ST_Union(o.geom))
             FROM regions o
            WHERE o.observation_id = (SELECT id FROM obs) AND o.deleted_at IS NULL AND o.geom && l.geom
              AND o.annotation_id = :a AND o.label = 'Outline'
       ), false)
    UNION ALL
    SELECT p.id, 'pit_overlaps_infrastructure', i.id
      FROM parts p
      JOIN regions i
        ON i.observation_id = (SELECT id FROM obs) AND i.deleted_at IS NULL AND i.geom && p.geom
       AND i.annotation_id = :a AND i.label = 'Infrastructure'
     WHERE p.label = 'Pit' AND ST_Intersects(p.geom, i.geom) AND ST_Area(ST_Intersection(p.geom, i.geom)) > 0
    """
)


def topology_warnings(
    session: Session, annotation_id: uuid.UUID, classes: list[str]
) -> list[TopologyWarning]:
    """Mine topology rules, as warnings (the save stands): Pit and Infrastructure inside an Outline, and no
    Pit overlapping Infrastructure (one warning per Infrastructure region it overlaps). Only checked when the
    project has those classes; without any Outline drawn yet, the first rule waits."""
    if not {"Pit", "Infrastructure", "Outline"} <= set(classes):
        return []
    rows = session.execute(TOPOLOGY_SQL, {"a": annotation_id}).all()
    return [topology_warning(TopologyRule(rule), region_id, other) for region_id, rule, other in rows]


class RegionNotFoundError(NotFoundError):
    code = "region_not_found"


def _as_input(region: Region) -> RegionInput:
    data = snapshot(region)
    return RegionInput(id=region.id, label=data["label"], geometry=data["geometry"], source=region.source,
                       score=region.score, accepted_from=region.accepted_from,
                       carried_from=region.carried_from)  # fmt: skip


def change_region(
    session: Session,
    region_id: uuid.UUID,
    based_on_version: int,
    new: RegionInput | None,
    limits: LimitSettings,
    *,
    user_id: uuid.UUID | None = None,
    repair: bool = False,
    clip: bool = False,
) -> SaveResult:
    """Replace (``new``) or delete (None) one region, checked against the region's own version, so that
    edits of other regions of the same annotation do not conflict with it."""
    region = session.get(Region, region_id)
    if region is None or region.deleted_at is not None or region.annotation_id is None:
        raise RegionNotFoundError(f"No region with id {region_id}.")
    annotation = get_annotation_or_raise(session, region.annotation_id, for_update=True)
    session.refresh(region)
    if region.version != based_on_version:
        current = snapshot(region)
        session.rollback()
        raise VersionConflictError(
            f"Region {region_id} is at version {current['version']}, not {based_on_version}: someone "
            "changed it meanwhile. Nothing was changed; merge with the current state and save again.",
            current=current,
        )
    inputs = [_as_input(r) if r.id != region_id else new for r in live_regions(session, annotation.id)]
    kept = [i for i in inputs if i is not None]
    return save_annotation(session, annotation.id, annotation.version, kept, limits, user_id=user_id,
                           repair=repair, clip=clip)  # fmt: skip


def add_region(
    session: Session,
    annotation_id: uuid.UUID,
    based_on_version: int,
    new: RegionInput,
    limits: LimitSettings,
    *,
    user_id: uuid.UUID | None = None,
    repair: bool = False,
    clip: bool = False,
) -> SaveResult:
    """Add one region to the annotation at ``based_on_version``; a client-chosen id that is already live
    here makes this a no-op (a retried add, whose version is the one before its first try)."""
    annotation = get_annotation_or_raise(session, annotation_id, for_update=True)
    live = live_regions(session, annotation.id)
    if new.id is not None and any(r.id == new.id for r in live):
        session.rollback()
        return SaveResult(annotation=annotation, regions=live)
    check_version(session, annotation, based_on_version)
    inputs = [*(_as_input(r) for r in live), new]
    return save_annotation(session, annotation.id, annotation.version, inputs, limits, user_id=user_id,
                           repair=repair, clip=clip)  # fmt: skip
