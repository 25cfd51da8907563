"""SQL for the stored topology warnings: each save writes those of the regions it checked, and opening a task
reads them instead of checking every region again (docs/adr/2026-12-02-stored-topology-warnings.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.labels.topology import TopologyRule, TopologyWarning, topology_warning
from app.models.annotation import Annotation

_DELETE_ALL = text("DELETE FROM topology_warnings WHERE annotation_id = :a")
_DELETE_SOME = text(
    "DELETE FROM topology_warnings WHERE annotation_id = :a AND region_id = ANY(CAST(:ids AS uuid[]))"
)
_INSERT = text(
    """
    INSERT INTO topology_warnings (annotation_id, region_id, rule, other_region_id)
    SELECT :a, w.region_id, w.rule, w.other
      FROM unnest(CAST(:ids AS uuid[]), CAST(:rules AS text[]), CAST(:others AS uuid[]))
           AS w(region_id, rule, other)
    """
)
_READ = text(
    "SELECT region_id, rule, other_region_id FROM topology_warnings WHERE annotation_id = :a ORDER BY id"
)


def store_warnings(
    session: Session,
    annotation: Annotation,
    warnings: Sequence[TopologyWarning],
    checked: Sequence[uuid.UUID] | None,
    *,
    before: int | None = None,
) -> None:
    """Keep ``warnings``, the warnings of the regions in ``checked`` (of every region when None), as those of
    the annotation's current version. A partial check (``checked``) only brings the stored warnings up to
    date when they were those of version ``before`` (the version the save was based on); otherwise they stay
    out of date and the next open checks the whole annotation. Flushes."""
    if checked is not None and (before is None or annotation.warnings_version != before):
        return
    if checked is None:
        session.execute(_DELETE_ALL, {"a": annotation.id})
    else:
        session.execute(_DELETE_SOME, {"a": annotation.id, "ids": list(checked)})
    if warnings:
        params = {
            "a": annotation.id,
            "ids": [w.region_id for w in warnings],
            "rules": [w.code.value for w in warnings],
            "others": [w.other_region_id for w in warnings],
        }
        session.execute(_INSERT, params)
    annotation.warnings_version = annotation.version
    session.flush()


# The JSON text of a list of TopologyWarningCodeRead, built by PostgreSQL: the 30,000 warnings of a dense
# annotation read as rows and Python objects took ~0.3 s of opening it, this ~0.08 s. to_json of a row is
# compact (json_build_object puts spaces around every colon).
_READ_JSON = text(
    """
    SELECT COALESCE(json_agg(
               (SELECT to_json(w) FROM (SELECT t.rule AS code, t.region_id, t.other_region_id) AS w)
             ORDER BY t.id), '[]')::text
      FROM topology_warnings t
     WHERE t.annotation_id = :a
    """
)


def has_current_warnings(annotation: Annotation) -> bool:
    """Whether the stored warnings are those of the annotation's current version."""
    return annotation.warnings_version == annotation.version


def stored_warnings(session: Session, annotation: Annotation) -> list[TopologyWarning] | None:
    """The annotation's stored warnings, or None when they are not those of its current version."""
    if not has_current_warnings(annotation):
        return None
    rows = session.execute(_READ, {"a": annotation.id}).all()
    return [topology_warning(TopologyRule(rule), region_id, other) for region_id, rule, other in rows]


def stored_warnings_json(session: Session, annotation: Annotation) -> str | None:
    """The annotation's stored warnings as the JSON text of a list of TopologyWarningCodeRead (in the order
    ``stored_warnings`` reads them), or None when they are not those of its current version."""
    if not has_current_warnings(annotation):
        return None
    return str(session.scalar(_READ_JSON, {"a": annotation.id}))
