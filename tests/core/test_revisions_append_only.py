"""The database itself keeps revisions append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from app.models import Annotation, Project, Revision, RevisionAction


def test_revisions_cannot_be_changed_or_removed(db_session: Session) -> None:
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
    for statement in ("UPDATE revisions SET annotation_version = 2", "DELETE FROM revisions"):
        savepoint = db_session.begin_nested()
        with pytest.raises(ProgrammingError, match="revisions are append-only"):
            db_session.execute(text(statement))
        savepoint.rollback()
