"""The task's annotations as a stream of lines (NDJSON) for opening a task: a client parses and builds the
first regions while the server still reads the rest (docs/adr/2026-12-03-opening-a-task-streams-its-
regions.md). Everything comes from one snapshot, so the lines are one consistent state of the task."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.api.presenters import annotation_head
from app.repositories.labels import annotation_feature_pages
from app.repositories.warnings import stored_warnings_json
from app.schemas.annotation import AnnotationOpenRead
from app.services.annotations import task_annotations, topology_warnings


def begin_snapshot(session: Session) -> None:
    """Starts the session's next transaction as REPEATABLE READ: every statement of it then sees the state
    of its first one. Call it between transactions (after a commit). A session bound to one connection in
    an outer transaction (the tests') keeps reading in that transaction."""
    if isinstance(session.get_bind(), Engine):
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _line(**field: object) -> bytes:
    """One line of AnnotationStreamLine: its one field (the others are left out, i.e. null)."""
    return orjson.dumps(field) + b"\n"


def stream_lines(
    session: Session,
    observation_id: uuid.UUID,
    only_of: uuid.UUID | None,
    classes: list[str],
    *,
    page_size: int,
    wgs84: bool,
) -> Iterator[bytes]:
    """The lines of AnnotationStreamLine. The caller has begun a REPEATABLE READ transaction on ``session``
    (the snapshot every line is read from) and stored the warnings that were missing."""
    annotations = task_annotations(session, observation_id, only_of)  # again: as the snapshot has them
    regions = 0
    for annotation in annotations:
        # Its regions and warnings come in the lines after it.
        head = AnnotationOpenRead(**annotation_head(annotation), regions=[])
        yield _line(annotation=head.model_dump(mode="json"))
        for page, count in annotation_feature_pages(session, annotation.id, page_size, wgs84=wgs84):
            regions += count
            yield _line(regions=orjson.Fragment(page))
        stored = stored_warnings_json(session, annotation)
        if stored is None:  # a save between storing them and this snapshot: checked here, not stored
            checked = topology_warnings(session, annotation.id, classes)
            rows = [
                {"code": w.code.value, "region_id": w.region_id, "other_region_id": w.other_region_id}
                for w in checked
            ]
            yield _line(warnings=rows)
        else:
            yield _line(warnings=orjson.Fragment(stored))
    yield _line(end={"annotations": len(annotations), "regions": regions})
