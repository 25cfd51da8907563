"""Saves of what changed (docs/adr/2026-12-02-autosave-sends-changes-not-the-annotation.md): the regions
added, changed and deleted since the version the client confirmed, checked and stored without reading the
rest of the annotation; the topology rules are checked again only where the change can have moved them.
A stale version gets a 409 with what changed since it, not the whole state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.core.errors import InvalidInputError
from app.interop.labeling_config import parse_labeling_config
from app.labels.topology import TopologyRule, TopologyWarning, topology_warning
from app.models.annotation import Annotation, Region, Revision, RevisionAction
from app.models.observation import Observation
from app.models.project import Project
from app.repositories.warnings import store_warnings
from app.services import ground_truth
from app.services.annotations import (
    TOPOLOGY_RULE_CLASSES,
    NewRegions,
    RegionChange,
    RegionIdTakenError,
    RegionInput,
    VersionConflictError,
    _revision,
    check_total_vertices,
    get_annotation_or_raise,
    live_regions,
    region_ancestors,
    region_ref,
    snapshot,
    store_region,
    topology_sql,
    topology_warnings,
)


class RegionNotInAnnotationError(InvalidInputError):
    code = "region_not_in_annotation"


@dataclass
class ChangeResult:
    annotation: Annotation
    regions: list[Region]  # the regions of the request, as stored
    deleted: list[uuid.UUID]
    changes: list[RegionChange] = field(default_factory=list)
    warnings: list[TopologyWarning] = field(default_factory=list)
    checked: list[uuid.UUID] | None = None  # whose warnings these are; None: the whole annotation's


def change_annotation(
    session: Session,
    annotation_id: uuid.UUID,
    based_on_version: int,
    regions: list[RegionInput],
    deleted: list[uuid.UUID],
    limits: LimitSettings,
    *,
    user_id: uuid.UUID | None = None,
    repair: bool = False,
    clip: bool = False,
) -> ChangeResult:
    """Add or replace ``regions`` (by their ids) and delete ``deleted``, as one new version based on
    ``based_on_version``; nothing else of the annotation is read or checked, except its topology
    neighbours."""
    _refuse_ambiguous(regions, deleted)
    annotation = get_annotation_or_raise(session, annotation_id, for_update=True)
    observation = session.get(Observation, annotation.observation_id)
    assert observation is not None
    ground_truth.ensure_editable(observation)
    check_version_delta(session, annotation, based_on_version)
    project = session.get(Project, observation.project_id)
    assert project is not None
    classes = parse_labeling_config(project.labeling_config).class_names

    ids = [r.id for r in regions if r.id is not None] + deleted
    # One query for every stored region the save names (not one per region: an accept-all names thousands).
    named = select(Region).where(Region.id.in_(ids))
    touched = {r.id: r for r in session.scalars(named)}
    _refuse_taken(regions, touched, annotation.id)
    touched = {i: r for i, r in touched.items() if r.annotation_id == annotation.id}  # live or deleted
    version = annotation.version + 1
    result = ChangeResult(annotation=annotation, regions=[], deleted=[])
    boxes = Reach()
    outlines = False  # an Outline was added, changed or deleted
    outline_delta = 0  # live Outlines now minus before
    changed = False
    kept = session.scalar(
        select(func.coalesce(func.sum(func.ST_NPoints(Region.geom)), 0)).where(
            Region.annotation_id == annotation.id, Region.deleted_at.is_(None), Region.id.not_in(ids)
        )
    )
    check_total_vertices(list(regions), limits, kept=int(kept or 0))
    ancestors = region_ancestors(session, observation, regions)
    new = NewRegions()
    for number, item in enumerate(regions, start=1):
        was = touched.get(item.id) if item.id else None
        old_label = was.label if was is not None and was.deleted_at is None else None
        stored = store_region(
            session,
            annotation,
            observation,
            number,
            item,
            touched,
            classes,
            limits,
            user_id,
            repair,
            clip,
            version,
            RevisionAction.UPDATE,
            complete=True,
            ancestor_id=ancestors.get(number),
            new=new,
        )
        result.regions.append(stored.region)
        result.changes += stored.changes
        if stored.changed:
            changed = True
            outlines = outlines or "Outline" in (old_label, item.label)
            outline_delta += (item.label == "Outline") - (old_label == "Outline")
            shapes = [stored.shape or to_shape(stored.region.geom)]
            if stored.before is not None:
                shapes.append(stored.before)
            boxes.add((old_label, item.label), shapes)
    for region_id in deleted:
        region = touched.get(region_id)
        if region is None:
            raise RegionNotInAnnotationError(
                f"Deleted region {region_id} is not a region of annotation {annotation.id}; delete only "
                "regions of the annotation you save.",
                region_id=str(region_id),
            )
        if region.deleted_at is not None:
            continue  # deleted already: nothing to do
        region.deleted_at = datetime.now(UTC)
        before = snapshot(region)
        session.add(_revision(annotation, region, RevisionAction.DELETE, version, before, None, user_id))
        result.deleted.append(region_id)
        boxes.add((region.label,), [to_shape(region.geom)])
        outlines = outlines or region.label == "Outline"
        outline_delta -= region.label == "Outline"
        changed = True
    if not changed:
        # Nothing differs: no new version, no revision (a retried delta without its key ends here).
        session.rollback()
        session.refresh(annotation)
        stored_now = (session.get(Region, i) for i in ids)
        result.regions = [r for r in stored_now if r is not None and r.deleted_at is None]
        result.warnings, result.checked = _scoped_warnings(
            session, annotation.id, classes, ids, Reach(), 0, False
        )
        return result
    new.write(session)
    annotation.version = version
    annotation.updated_at = datetime.now(UTC)
    session.flush()
    result.warnings, result.checked = _scoped_warnings(
        session, annotation.id, classes, ids, boxes, outline_delta, outlines
    )
    store_warnings(session, annotation, result.warnings, result.checked, before=based_on_version)
    session.commit()
    return result


def _refuse_ambiguous(regions: list[RegionInput], deleted: list[uuid.UUID]) -> None:
    seen: set[uuid.UUID] = set()
    for number, item in enumerate(regions, start=1):
        ref = region_ref(number, item)
        if item.id is None:
            raise InvalidInputError(
                f"Region {ref.name}: a saved change needs the region's id (a UUID the client chooses for a "
                "new region), so that a retry cannot add it twice.",
                **ref.error_fields(),
            )
        if item.id in seen:
            raise InvalidInputError(
                f"Region {ref.name}: the id {item.id} is used twice in this save.", **ref.error_fields()
            )
        seen.add(item.id)
    both = seen.intersection(deleted)
    if both:
        raise InvalidInputError(
            f"Region {sorted(both)[0]} is both in `regions` and in `deleted`; send it in one of them.",
            region_id=str(sorted(both)[0]),
        )
    if len(set(deleted)) != len(deleted):
        raise InvalidInputError("An id is listed twice in `deleted`; list each deleted region once.")


def _refuse_taken(
    regions: list[RegionInput], stored: dict[uuid.UUID, Region], annotation_id: uuid.UUID
) -> None:
    for number, item in enumerate(regions, start=1):
        region = stored.get(item.id) if item.id is not None else None
        if region is not None and region.annotation_id != annotation_id:
            ref = region_ref(number, item)
            raise RegionIdTakenError(
                f"Region {ref.name}: id {item.id} belongs to another annotation.", **ref.error_fields()
            )


def check_version_delta(session: Session, annotation: Annotation, based_on_version: int) -> None:
    """Refuse a change based on another version than the current one: a 409 whose ``current`` holds what
    changed after ``based_on_version`` (``since``), or the whole state where that version is unknown."""
    if annotation.version == based_on_version:
        return
    current = changes_since(session, annotation, based_on_version)
    session.rollback()
    raise VersionConflictError(
        f"Annotation {annotation.id} is at version {annotation.version}, not {based_on_version}: someone "
        "saved it meanwhile. Nothing was changed; merge with the current state and save again.",
        current=current,
    )


def changes_since(session: Session, annotation: Annotation, version: int) -> dict[str, Any]:
    """``{version, since, regions, deleted}``: the regions added or changed after ``version`` (as they are
    now) and the ids deleted after it; ``since`` None and every live region where ``version`` is not one
    before the current one."""
    if not 1 <= version < annotation.version:
        return {
            "version": annotation.version,
            "since": None,
            "regions": [snapshot(r) for r in live_regions(session, annotation.id)],
            "deleted": [],
        }
    last: dict[uuid.UUID, dict[str, Any] | None] = {}
    rows = session.execute(
        select(Revision.region_id, Revision.after)
        .where(
            Revision.annotation_id == annotation.id,
            Revision.annotation_version > version,
            Revision.region_id.is_not(None),
        )
        .order_by(Revision.id)
    )
    for region_id, after in rows:
        last[region_id] = after
    return {
        "version": annotation.version,
        "since": version,
        "regions": [after for after in last.values() if after is not None],
        "deleted": [str(region_id) for region_id, after in last.items() if after is None],
    }


# The regions of the annotation with one of :labels whose boxes touch one of the given boxes (the old and
# new shapes of what a save changed), through the (observation_id, geom) GiST index.
NEIGHBOURS_SQL = text(
    """
    SELECT DISTINCT r.id
      FROM unnest(CAST(:x0 AS float8[]), CAST(:y0 AS float8[]), CAST(:x1 AS float8[]), CAST(:y1 AS float8[]))
           AS b(x0, y0, x1, y1)
      JOIN regions r
        ON r.observation_id = :o AND r.geom && ST_MakeEnvelope(b.x0, b.y0, b.x1, b.y1, 0)
     WHERE r.annotation_id = :a AND r.deleted_at IS NULL AND r.label = ANY(CAST(:labels AS text[]))
    """
)


Box = tuple[float, float, float, float]


@dataclass
class Reach:
    """The boxes of what a save changed, by whose warnings they can change: a Pit's own warnings are the
    only ones a Pit changes (an overlap is the Pit's warning), an Infrastructure region's reach the Pits
    around it, an Outline's the Pits and Infrastructure around it."""

    pits: list[Box] = field(default_factory=list)  # Infrastructure changed: the Pits whose boxes touch
    parts: list[Box] = field(default_factory=list)  # an Outline changed: Pits and Infrastructure

    def add(self, labels: tuple[str | None, ...], shapes: list[BaseGeometry]) -> None:
        """The old and new ``labels`` of a changed region and its old and new ``shapes``."""
        if "Outline" in labels:
            self.parts += [shape.bounds for shape in shapes]
        elif "Infrastructure" in labels:
            self.pits += [shape.bounds for shape in shapes]


def _scoped_warnings(
    session: Session,
    annotation_id: uuid.UUID,
    classes: list[str],
    ids: list[uuid.UUID],
    boxes: Reach,
    outline_delta: int,
    outlines: bool,
) -> tuple[list[TopologyWarning], list[uuid.UUID] | None]:
    """The topology warnings of the changed regions and their neighbours, with the ids they are for; the
    whole annotation's (and None) when the Outline rule switched on or off (``outline_delta``: how many
    more live Outlines there are than before the save)."""
    if not set(classes) >= TOPOLOGY_RULE_CLASSES:
        return [], sorted(set(ids))
    if outlines:
        now = _outline_count(session, annotation_id)
        if (now == 0) != (now - outline_delta == 0):
            # The first Outline appeared or the last one went: the rule waits for one, so every Pit's changed.
            return topology_warnings(session, annotation_id, classes), None
    scope = set(ids)
    reaches = [(boxes.pits, ["Pit"]), (boxes.parts, ["Pit", "Infrastructure"])]
    if boxes.pits or boxes.parts:
        observation_id = session.scalar(
            select(Annotation.observation_id).where(Annotation.id == annotation_id)
        )
        for reach, labels in reaches:
            if not reach:
                continue
            x0, y0, x1, y1 = (list(column) for column in zip(*reach, strict=True))
            params = {"a": annotation_id, "o": observation_id, "labels": labels}
            params |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
            scope.update(session.scalars(NEIGHBOURS_SQL, params))
    checked = sorted(scope)
    rows = session.execute(topology_sql(scoped=True), {"a": annotation_id, "scope": checked}).all()
    warnings = [topology_warning(TopologyRule(rule), region_id, other) for region_id, rule, other in rows]
    return warnings, checked


def _outline_count(session: Session, annotation_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Region)
            .where(
                Region.annotation_id == annotation_id, Region.deleted_at.is_(None), Region.label == "Outline"
            )
        )
        or 0
    )
