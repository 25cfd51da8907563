"""A large export as a job: a real Celery worker writes the file with progress, the creator downloads it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.models import Job, Observation, Project, TaskState, User
from app.services import annotations as annotation_service
from tests.world import make_project, make_task, make_user, region_input, square


@pytest.fixture
def committed_project(engine: Engine) -> Iterator[Project]:
    """Two approved tasks with labels, committed for real so that the worker sees them."""
    with Session(engine, expire_on_commit=False) as session:
        project = make_project(session, "job-export")
        annotator = make_user(session, "job-ann")
        for index in (0, 1):
            task = make_task(session, None, project, Path("/nonexistent"), index=index)  # type: ignore[arg-type]
            regions = [region_input("Pit", square(10 + index, 10, 30))]
            annotation_service.create_annotation(
                session, task, regions, LimitSettings(), user_id=annotator.id
            )
            session.execute(
                update(Observation).where(Observation.id == task.id).values(task_state=TaskState.APPROVED)
            )
        session.commit()
    yield project
    with Session(engine) as session:
        session.execute(delete(Project).where(Project.id == project.id))
        session.execute(delete(User).where(User.id == annotator.id))
        session.commit()


def wait_done(client: TestClient, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"export job {job_id} did not finish")


def test_an_export_job_writes_the_same_file_as_the_stream(
    committing_client: TestClient, worker: str, committed_project: Project
) -> None:
    project_id = committed_project.id
    streamed = committing_client.get(f"/api/projects/{project_id}/export").content
    early = committing_client.post(f"/api/projects/{project_id}/exports", params={"format": "label-studio"})
    assert early.status_code == 202, early.text
    job_id = early.json()["id"]
    not_yet = committing_client.get(f"/api/jobs/{job_id}/file")
    assert not_yet.status_code in (200, 409)  # 409 until the job has succeeded
    job = wait_done(committing_client, job_id)
    assert job["state"] == "succeeded", job
    assert job["progress"] == 1.0
    result = job["result"]
    assert result["filename"].endswith("-label-studio.json") and result["report"]["tasks"] == 2
    downloaded = committing_client.get(f"/api/jobs/{job_id}/file")
    assert downloaded.status_code == 200
    assert downloaded.headers["content-disposition"] == f'attachment; filename="{result["filename"]}"'
    assert downloaded.content == streamed


def test_a_job_with_bad_options_is_refused_before_it_starts(
    committing_client: TestClient, committed_project: Project, engine: Engine
) -> None:
    def export_jobs() -> int:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Job).where(Job.kind == "export")) or 0

    before = export_jobs()
    bad = committing_client.post(
        f"/api/projects/{committed_project.id}/exports", params={"format": "shapefile"}
    )
    assert bad.status_code == 422 and "label-studio" in bad.json()["detail"]
    unknown_class = committing_client.post(
        f"/api/projects/{committed_project.id}/exports", params={"label": "Road"}
    )
    assert unknown_class.status_code == 422 and "Road" in unknown_class.json()["detail"]
    assert export_jobs() == before  # no job was stored
    missing = committing_client.get(f"/api/jobs/{uuid.uuid4()}/file")
    assert missing.status_code == 404
