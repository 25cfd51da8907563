"""Annotations: whole-annotation saves that are checked, versioned and recorded, never silently lost.

Every save names the annotation version it was based on; a stale one raises VersionConflictError with the
current state. Each region created, changed or deleted writes a revision (before/after) in the same
transaction, deletes are tombstones, and any earlier version can be restored as a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import from_shape, to_shape
from shapely import geometry as shp
from shapely.geometry.base import BaseGeometry
from sqlalchemy import TextClause, insert, select, text
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.interop.labeling_config import parse_labeling_config
from app.labels.geometry import (
    GeometryChange,
    GeometryChangeCode,
    check_region_geometry,
    count_vertices,
    pixel_to_wgs84,
)
from app.labels.regions import RegionRef, check_label
from app.labels.topology import TopologyRule, TopologyWarning, topology_warning
from app.models.annotation import Annotation, Region, RegionSource, Revision, RevisionAction
from app.models.observation import Observation
from app.models.project import Project
from app.repositories.labels import geodesic_area_ha, postgis_make_valid
from app.repositories.warnings import has_current_warnings, store_warnings, stored_warnings
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
    # Annotations: the region on the site's previous date it continues (copy-forward); only read when the
    # region is made, as a region keeps its ancestor for life.
    ancestor_id: uuid.UUID | None = None
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


def snapshot(region: Region, geometry: BaseGeometry | None = None) -> dict[str, Any]:
    """A region as stored in revisions (and restored from them); ``geometry``: its shape, where the caller
    has it (saves parsing the stored WKB again)."""
    return {
        "id": str(region.id),
        "label": region.label,
        "source": region.source.value,
        "score": region.score,
        "accepted_from": str(region.accepted_from) if region.accepted_from else None,
        "geometry": shp.mapping(to_shape(region.geom) if geometry is None else geometry),
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
        id=uuid.uuid4(),
        project_id=observation.project_id,
        observation_id=observation.id,
        created_by=user_id,
        **fields,
    )
    session.add(annotation)
    session.flush()
    session.add(
        Revision(
            annotation_id=annotation.id, action=RevisionAction.CREATE, annotation_version=1, user_id=user_id
        )
    )
    return _apply(
        session, annotation, observation, regions, limits, user_id, repair, clip, bump=False, commit=commit
    )


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
    return _apply(
        session, annotation, observation, regions, limits, user_id, repair, clip, bump=True, action=action
    )


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
    session.add(
        Revision(
            annotation_id=annotation.id,
            action=RevisionAction.DELETE,
            annotation_version=annotation.version,
            user_id=user_id,
        )
    )
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
    ancestors = region_ancestors(session, observation, inputs)
    version = annotation.version + 1 if bump else annotation.version
    result = SaveResult(annotation=annotation, regions=[])
    seen: set[uuid.UUID] = set()
    changed = False
    for number, item in enumerate(inputs, start=1):
        if item.id is not None and item.id in seen:
            ref = region_ref(number, item)
            raise InvalidInputError(
                f"Region {ref.name}: the id {item.id} is used twice in this save.", **ref.error_fields()
            )
        stored = store_region(
            session,
            annotation,
            observation,
            number,
            item,
            existing,
            classes,
            limits,
            user_id,
            repair,
            clip,
            version,
            action,
            ancestor_id=ancestors.get(number),
        )
        changed = changed or stored.changed
        seen.add(stored.region.id)
        result.regions.append(stored.region)
        result.changes += stored.changes
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
    if not commit:
        # Imports: their warnings are not stored, so the first open checks the annotation once.
        session.flush()
        return result
    session.flush()
    result.warnings = topology_warnings(session, annotation.id, classes)
    store_warnings(session, annotation, result.warnings, None)
    session.commit()
    return result


class AncestorError(InvalidInputError):
    code = "invalid_ancestor"


def region_ancestors(
    session: Session, observation: Observation, inputs: list[RegionInput]
) -> dict[int, uuid.UUID]:
    """Per (1-based) region number, the ancestor a region made in this save gets: the one named, else the
    region a carried-forward prediction it was accepted from continues. A named ancestor must be a region
    of an earlier date of the same site, so that lineage only ever runs back in time."""
    named = {item.ancestor_id for item in inputs if item.ancestor_id is not None}
    accepted = {item.accepted_from for item in inputs if item.ancestor_id is None and item.accepted_from}
    if not named and not accepted:
        return {}
    found = {
        row.id: row
        for row in session.execute(
            select(
                Region.id,
                Region.carried_from,
                Observation.site_id,
                Observation.acquired_on,
                Observation.index.label("position"),
            )
            .join(Observation, Observation.id == Region.observation_id)
            .where(Region.id.in_(named | accepted))
        )
    }
    result: dict[int, uuid.UUID] = {}
    for number, item in enumerate(inputs, start=1):
        if item.ancestor_id is None:
            source = found.get(item.accepted_from) if item.accepted_from else None
            if source is not None and source.carried_from is not None:
                result[number] = source.carried_from
            continue
        ref = region_ref(number, item)
        ancestor = found.get(item.ancestor_id)
        earlier = ancestor is not None and (
            (ancestor.acquired_on, ancestor.position) < (observation.acquired_on, observation.index)
            if ancestor.acquired_on is not None and observation.acquired_on is not None
            else ancestor.position < observation.index
        )
        if ancestor is None or ancestor.site_id != observation.site_id or not earlier:
            raise AncestorError(
                f"Region {ref.name}: ancestor_id {item.ancestor_id} is no region of an earlier date of this "
                "site; name the region on a previous observation it was copied from, or leave it out.",
                **ref.error_fields(),
            )
        result[number] = item.ancestor_id
    return result


@dataclass(frozen=True)
class StoredRegion:
    region: Region
    changed: bool  # a revision was written
    changes: list[RegionChange]  # what repair/clip did
    before: BaseGeometry | None = None  # its geometry before this save, if it had one
    shape: BaseGeometry | None = None  # its geometry now, where the save made it


# The columns a new region's row sets (the others take their defaults).
_NEW_REGION_COLUMNS = (
    "id",
    "project_id",
    "observation_id",
    "annotation_id",
    "version",
    "label",
    "source",
    "score",
    "accepted_from",
    "carried_from",
    "ancestor_id",
    "geom",
    "geom_wgs84",
    "area_px",
    "area_ha",
)


@dataclass
class NewRegions:
    """New regions of a save and their revisions, inserted together by ``write`` (two multi-row INSERTs)
    instead of one ORM object each through the unit of work: an accept-all adds thousands, and the ORM
    flush of 2,000 regions and 2,000 revisions took 2.3 s of a 5.4 s save (bench/README.md). The regions
    are ORM objects that never join the session, so callers read them like stored ones."""

    regions: list[Region] = field(default_factory=list)
    revisions: list[dict[str, Any]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        """Insert them (regions first: revisions name them). Call it before the save's flush."""
        if not self.regions:
            return
        rows = [{column: getattr(r, column) for column in _NEW_REGION_COLUMNS} for r in self.regions]
        session.execute(insert(Region), rows)
        session.execute(insert(Revision), self.revisions)
        self.regions, self.revisions = [], []


def store_region(
    session: Session,
    annotation: Annotation,
    observation: Observation,
    number: int,
    item: RegionInput,
    existing: dict[uuid.UUID, Region],
    classes: list[str],
    limits: LimitSettings,
    user_id: uuid.UUID | None,
    repair: bool,
    clip: bool,
    version: int,
    action: RevisionAction,
    *,
    complete: bool = False,
    ancestor_id: uuid.UUID | None = None,
    new: NewRegions | None = None,
) -> StoredRegion:
    """Check the ``number``-th region of a save and create, revive or update it (a revision when it
    changed); ``existing`` holds the annotation's live regions the save may touch, by id. ``complete``:
    ``existing`` holds every stored region with the save's ids (live or deleted, and the caller refused ids
    of other annotations), so an id not in it is new without a query, and nothing is flushed per region.
    ``new`` (with ``complete``): new regions are gathered there for one insert instead of being added to the
    session."""
    ref = region_ref(number, item)
    check_label(item.label, ref, classes)
    checked = check_region_geometry(
        item.geometry,
        region=ref,
        width=observation.width,
        height=observation.height,
        max_vertices=limits.max_polygon_vertices,
        repair=repair,
        clip=clip,
        make_valid=postgis_make_valid(session),
    )
    region = existing.get(item.id) if item.id else None
    if region is None and item.id is not None and not complete:
        region = session.get(Region, item.id)
        if region is not None and region.annotation_id != annotation.id:
            raise RegionIdTakenError(
                f"Region {ref.name}: id {item.id} belongs to another annotation.", **ref.error_fields()
            )
    if region is None:
        region = Region(
            id=item.id or uuid.uuid4(),
            project_id=annotation.project_id,
            observation_id=observation.id,
            annotation_id=annotation.id,
            version=1,
        )
        fill_region(session, region, item, checked.geometry, observation)
        region.ancestor_id = ancestor_id  # set once, when the region is made (docs/adr/*region-lineage*)
        if new is not None and complete:
            after = snapshot(region, checked.geometry)
            new.regions.append(region)
            new.revisions.append(
                _revision_values(annotation, region, RevisionAction.CREATE, version, None, after, user_id)
            )
            return StoredRegion(region, True, _changes(region, checked.changes), shape=checked.geometry)
        session.add(region)
        if not complete:
            session.flush()
        session.add(
            _revision(annotation, region, RevisionAction.CREATE, version, None, snapshot(region), user_id)
        )
        return StoredRegion(region, True, _changes(region, checked.changes))
    if region.deleted_at is not None:
        # A region of this annotation deleted earlier comes back (an undo, or a restore).
        before_shape = to_shape(region.geom)
        region.deleted_at = None
        region.version += 1
        fill_region(session, region, item, checked.geometry, observation)
        revived = RevisionAction.RESTORE if action is RevisionAction.RESTORE else RevisionAction.CREATE
        session.add(_revision(annotation, region, revived, version, None, snapshot(region), user_id))
        return StoredRegion(region, True, _changes(region, checked.changes), before_shape)
    before_shape = to_shape(region.geom)
    unchanged = (region.label, region.source, region.score, region.accepted_from) == (
        item.label,
        item.source,
        item.score,
        item.accepted_from,
    ) and before_shape.equals_exact(checked.geometry, 0)
    if unchanged:
        return StoredRegion(region, False, _changes(region, checked.changes), before_shape)
    # Only a changed region pays for deriving EPSG:4326 and its area again.
    before = snapshot(region)
    fill_region(session, region, item, checked.geometry, observation)
    after = snapshot(region)
    region.version += 1
    region.updated_at = datetime.now(UTC)
    after["version"] = region.version
    session.add(_revision(annotation, region, action, version, before, after, user_id))
    return StoredRegion(region, True, _changes(region, checked.changes), before_shape)


def _changes(region: Region, changes: Sequence[GeometryChange]) -> list[RegionChange]:
    return [RegionChange(region.id, c.code, c.message) for c in changes]


def check_total_vertices(inputs: list[RegionInput], limits: LimitSettings, kept: int = 0) -> None:
    """Refuse an annotation whose regions together pass LIMITS__MAX_ANNOTATION_VERTICES, before any of them
    is checked: opening a task carries the whole state, so its size bounds a request's cost. ``kept``: the
    vertices of the stored regions a save of changes leaves as they are."""
    total = kept + sum(count_vertices(item.geometry) for item in inputs)
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
        region.area_ha = geodesic_area_ha(wgs84)
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
    return Revision(**_revision_values(annotation, region, action, version, before, after, user_id))


def _revision_values(
    annotation: Annotation,
    region: Region,
    action: RevisionAction,
    version: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    user_id: uuid.UUID | None,
) -> dict[str, Any]:
    """A revision's columns: for the ORM object, or as a row of ``NewRegions``' multi-row INSERT."""
    return {
        "annotation_id": annotation.id,
        "region_id": region.id,
        "action": action,
        "annotation_version": version,
        "before": before,
        "after": after,
        "user_id": user_id,
    }


# Each Pit and Infrastructure is checked only against the regions whose boxes touch it, found through the
# (observation_id, geom) GiST index: the cost grows with the regions, not with their pairs. (The first
# version compared every Pit with the union of all Outlines and every Pit with every Infrastructure: 15 s
# for 2,000 regions, and the union was recomputed per row where the planner lacked statistics.)
# Which Pit and Infrastructure regions a check covers: all of the annotation's, or those in :scope (the ones a
# save of changes can have affected, services/annotation_changes.py).
_PARTS = {
    False: "annotation_id = :a",
    True: "annotation_id = :a AND id = ANY(CAST(:scope AS uuid[]))",
}
_TOPOLOGY_SQL = """
    WITH obs AS MATERIALIZED (
        SELECT observation_id AS id FROM annotations WHERE id = :a
    ), parts AS MATERIALIZED (
        SELECT id, label, geom FROM regions
         WHERE {parts} AND deleted_at IS NULL AND label IN ('Pit', 'Infrastructure')
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
     CROSS JOIN LATERAL (
           -- OFFSET 0 keeps this a subquery run per Pit with its box in the index condition: flattened
           -- into a join, regions just inserted (no statistics yet) got a plan that filtered every
           -- Infrastructure region of the image per Pit (2,000 new regions: 1.3 M pairs, 0.7 s).
           SELECT i.id, i.geom FROM regions i
            WHERE i.observation_id = (SELECT id FROM obs) AND i.deleted_at IS NULL AND i.geom && p.geom
              AND i.annotation_id = :a AND i.label = 'Infrastructure'
           OFFSET 0
       ) i
     WHERE p.label = 'Pit' AND ST_Intersects(p.geom, i.geom) AND ST_Area(ST_Intersection(p.geom, i.geom)) > 0
    """
TOPOLOGY_SQL = text(_TOPOLOGY_SQL.format(parts=_PARTS[False]))
_SCOPED_TOPOLOGY_SQL = text(_TOPOLOGY_SQL.format(parts=_PARTS[True]))
TOPOLOGY_RULE_CLASSES = {"Pit", "Infrastructure", "Outline"}


def topology_sql(*, scoped: bool) -> TextClause:
    """The topology query of the whole annotation (:a), or only of the Pit/Infrastructure ids in :scope."""
    return _SCOPED_TOPOLOGY_SQL if scoped else TOPOLOGY_SQL


def topology_warnings(
    session: Session, annotation_id: uuid.UUID, classes: list[str]
) -> list[TopologyWarning]:
    """Mine topology rules, as warnings (the save stands): Pit and Infrastructure inside an Outline, and no
    Pit overlapping Infrastructure (one warning per Infrastructure region it overlaps). Only checked when the
    project has those classes; without any Outline drawn yet, the first rule waits."""
    if not set(classes) >= TOPOLOGY_RULE_CLASSES:
        return []
    rows = session.execute(TOPOLOGY_SQL, {"a": annotation_id}).all()
    return [topology_warning(TopologyRule(rule), region_id, other) for region_id, rule, other in rows]


def current_warnings(session: Session, annotation: Annotation, classes: list[str]) -> list[TopologyWarning]:
    """The annotation's topology warnings: those its saves stored, or (an import, an annotation from before
    they were stored) checked once for the whole annotation and stored. Flushes; the caller commits."""
    stored = stored_warnings(session, annotation)
    if stored is not None:
        return stored
    # Locked, so that two opens do not both store them; the other one may have stored them meanwhile.
    session.refresh(annotation, with_for_update=True)
    stored = stored_warnings(session, annotation)
    if stored is not None:
        return stored
    warnings = topology_warnings(session, annotation.id, classes)
    store_warnings(session, annotation, warnings, None)
    return warnings


def store_missing_warnings(session: Session, annotations: Sequence[Annotation], classes: list[str]) -> None:
    """Checks and stores the warnings of those annotations whose stored ones are not current (an import's,
    or from before warnings were stored), as opening a task does; afterwards ``stored_warnings_json`` reads
    every one's. Flushes; the caller commits."""
    for annotation in annotations:
        if not has_current_warnings(annotation):
            current_warnings(session, annotation, classes)


def task_annotations(
    session: Session, observation_id: uuid.UUID, only_of: uuid.UUID | None
) -> list[Annotation]:
    """The observation's annotations, not deleted, oldest first (only ``only_of``'s, when set)."""
    stmt = select(Annotation).where(
        Annotation.observation_id == observation_id, Annotation.deleted_at.is_(None)
    )
    if only_of is not None:
        stmt = stmt.where(Annotation.created_by == only_of)
    return list(session.scalars(stmt.order_by(Annotation.created_at)).all())


class RegionNotFoundError(NotFoundError):
    code = "region_not_found"


def _as_input(region: Region) -> RegionInput:
    data = snapshot(region)
    return RegionInput(
        id=region.id,
        label=data["label"],
        geometry=data["geometry"],
        source=region.source,
        score=region.score,
        accepted_from=region.accepted_from,
        carried_from=region.carried_from,
        ancestor_id=region.ancestor_id,
    )


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
    return save_annotation(
        session, annotation.id, annotation.version, kept, limits, user_id=user_id, repair=repair, clip=clip
    )


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
    return save_annotation(
        session, annotation.id, annotation.version, inputs, limits, user_id=user_id, repair=repair, clip=clip
    )
