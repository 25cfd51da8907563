"""The database itself keeps history (revisions, the audit log) append-only, except in cascades."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from app.models import Annotation, AuditEvent, Project, Revision, RevisionAction


def test_history_cannot_be_changed_or_removed_except_by_cascade(db_session: Session) -> None:
    project = Project(name="history")
    db_session.add(project)
    db_session.flush()
    db_session.execute(
        text(
            "INSERT INTO sites (id, project_id, name, render_version) VALUES (gen_random_uuid(), :p, 's', 0)"
        ),
        {"p": project.id},
    )
    site_id = db_session.scalar(text("SELECT id FROM sites WHERE project_id = :p"), {"p": project.id})
    observation_id = db_session.scalar(
        text(
            "INSERT INTO observations (id, project_id, site_id, index, original_filename, content_hash, "
            "size_bytes, driver, width, height, band_count, band_names, dtype, has_alpha, georef_source, "
            "status, original_key) VALUES (gen_random_uuid(), :p, :s, 0, 'a.png', 'h', 1, 'PNG', 10, 10, 3, "
            "'{r,g,b}', 'uint8', false, 'none', 'ready', 'k') RETURNING id"
        ),
        {"p": project.id, "s": site_id},
    )
    annotation = Annotation(project_id=project.id, observation_id=observation_id)
    db_session.add(annotation)
    db_session.flush()
    db_session.add(Revision(annotation_id=annotation.id, action=RevisionAction.CREATE, annotation_version=1))
    db_session.flush()
    db_session.add(AuditEvent(project_id=project.id, observation_id=observation_id, action="start"))
    db_session.flush()
    for table, statement in [
        ("revisions", "UPDATE revisions SET annotation_version = 2"),
        ("revisions", "DELETE FROM revisions"),
        ("audit_events", "UPDATE audit_events SET action = 'approve'"),
        ("audit_events", "DELETE FROM audit_events"),
    ]:
        savepoint = db_session.begin_nested()
        with pytest.raises(ProgrammingError, match=f"{table} is append-only"):
            db_session.execute(text(statement))
        savepoint.rollback()

    # Deleting the task takes its history with it (a cascade is allowed; nothing else is).
    db_session.execute(text("DELETE FROM observations WHERE id = :o"), {"o": observation_id})
    assert (
        db_session.scalar(
            text("SELECT count(*) FROM revisions WHERE annotation_id = :a"), {"a": annotation.id}
        )
        == 0
    )
    assert (
        db_session.scalar(text("SELECT count(*) FROM audit_events WHERE project_id = :p"), {"p": project.id})
        == 0
    )
