"""Jobs through the API, without a worker: typed parameters, listing, cancel, who sees what, and a broker
that is down."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import RedisSettings, Settings
from app.main import create_app
from app.models import Job, JobState, ProjectRole, User
from app.services.users import create_user
from tests.conftest import PASSWORD
from tests.services import free_port
from tests.world import add_member, make_project


def test_probe_is_queued_and_listed(client: TestClient, db_session: Session) -> None:
    response = client.post("/api/jobs/probe", json={"queue": "gpu", "steps": 2})
    assert response.status_code == 202
    job = response.json()
    assert job["state"] == "queued"
    assert job["kind"] == "probe"
    assert job["queue"] == "gpu"
    assert job["progress"] == 0.0
    assert job["params"] == {
        "steps": 2,
        "step_seconds": 0.0,
        "fail_with": None,
        "transient_failures": 0,
        "scratch_bytes": 0,
    }
    assert job["attempts"] == 0 and job["max_attempts"] == 3 and job["attempt_log"] == []
    assert job["eta_s"] is None and job["cancel_requested"] is False
    row = db_session.get(Job, uuid.UUID(job["id"]))
    assert row is not None and row.enqueued_at is not None

    listed = client.get("/api/jobs", params={"kind": "probe", "state": "queued"}).json()
    assert listed["total"] == 1
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert client.get(f"/api/jobs/{job['id']}").json()["id"] == job["id"]


def test_unknown_job_is_a_404_with_a_message(client: TestClient) -> None:
    missing = uuid.uuid4()
    response = client.get(f"/api/jobs/{missing}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"No job with id {missing}.", "code": "job_not_found"}


def test_bad_probe_parameters_are_rejected_and_nothing_is_stored(
    client: TestClient, db_session: Session
) -> None:
    for body, field in [
        ({"queue": "tpu"}, "queue"),
        ({"steps": 0}, "steps"),
        ({"step_seconds": 600}, "step_seconds"),
        ({"transient_failures": -1}, "transient_failures"),
        ({"surprise": 1}, "surprise"),
    ]:
        response = client.post("/api/jobs/probe", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][-1] == field
    missing = uuid.uuid4()
    response = client.post("/api/jobs/probe", json={"project_id": str(missing)})
    assert response.status_code == 404
    assert response.json()["detail"] == f"No project with id {missing}."
    assert db_session.scalars(select(Job)).all() == []


def test_paging_is_bounded(client: TestClient) -> None:
    for params in ({"offset": 9223372036854775808}, {"offset": -1}, {"limit": 0}, {"limit": 501}):
        response = client.get("/api/jobs", params=params)
        assert response.status_code == 422, params
    assert client.get("/api/jobs", params={"state": "exploded"}).status_code == 422


def test_cancel_a_queued_job_and_then_it_is_final(client: TestClient, db_session: Session) -> None:
    job = client.post("/api/jobs/probe", json={}).json()
    cancelled = client.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    again = client.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"Job {job['id']} has already cancelled; there is nothing to cancel.",
        "code": "job_finished",
    }
    row = db_session.get(Job, uuid.UUID(job["id"]))
    assert row is not None and row.state == JobState.CANCELLED


def test_a_running_job_is_asked_to_stop(client: TestClient, db_session: Session) -> None:
    job_id = uuid.UUID(client.post("/api/jobs/probe", json={}).json()["id"])
    row = db_session.get(Job, job_id)
    assert row is not None
    row.state = JobState.RUNNING  # as a worker's claim leaves it
    db_session.commit()
    answer = client.post(f"/api/jobs/{job_id}/cancel").json()
    assert answer["state"] == "running"
    assert answer["cancel_requested"] is True
    assert answer["message"].startswith("cancelling")


def test_project_members_see_the_projects_jobs_and_no_one_elses(
    client: TestClient, client_for: Callable[[User | None], TestClient], db_session: Session
) -> None:
    project = make_project(db_session, "jobs")
    other = make_project(db_session, "other")
    annotator = create_user(db_session, email=f"ann-{uuid.uuid4().hex[:6]}@t.local", password=PASSWORD)
    add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    db_session.commit()
    mine = client.post("/api/jobs/probe", json={"project_id": str(project.id)}).json()
    theirs = client.post("/api/jobs/probe", json={"project_id": str(other.id)}).json()
    site_wide = client.post("/api/jobs/probe", json={}).json()
    assert mine["project_id"] == str(project.id)

    member = client_for(annotator)
    listed = member.get(f"/api/projects/{project.id}/jobs").json()
    assert [j["id"] for j in listed["items"]] == [mine["id"]]
    assert member.get(f"/api/jobs/{mine['id']}").status_code == 200
    # Another project's job and a site-wide job of someone else: as if they did not exist.
    for job in (theirs, site_wide):
        response = member.get(f"/api/jobs/{job['id']}")
        assert response.status_code == 404, job
        assert response.json()["code"] == "job_not_found"
    assert member.get(f"/api/projects/{other.id}/jobs").status_code == 404
    assert member.get("/api/jobs").status_code == 403
    # An annotator may not cancel a job somebody else started in the project.
    refused = member.post(f"/api/jobs/{mine['id']}/cancel")
    assert refused.status_code == 403
    assert "it belongs to someone else" in refused.json()["detail"]


def test_redis_down_gives_503_and_the_job_is_not_left_queued(
    settings: Settings,
    session_factory: sessionmaker[Session],
    db_session: Session,
    admin_headers: dict[str, str],
) -> None:
    broken = settings.model_copy(update={"redis": RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")})
    with TestClient(create_app(broken, session_factory=session_factory), headers=admin_headers) as client:
        response = client.post("/api/jobs/probe", json={})
    assert response.status_code == 503
    assert "Redis" in response.json()["detail"]
    jobs = db_session.scalars(select(Job)).all()
    assert len(jobs) == 1
    assert jobs[0].state == JobState.FAILED
    assert jobs[0].error is not None and "could not reach the job queue" in jobs[0].error


def test_a_running_job_has_an_eta_from_its_pace(client: TestClient, db_session: Session) -> None:
    job_id = uuid.UUID(client.post("/api/jobs/probe", json={}).json()["id"])
    row = db_session.get(Job, job_id)
    assert row is not None
    row.state = JobState.RUNNING
    row.started_at = datetime.now(UTC) - timedelta(seconds=30)
    row.progress = 0.25
    db_session.commit()
    eta = client.get(f"/api/jobs/{job_id}").json()["eta_s"]
    assert 85 <= eta <= 95  # a quarter done in 30 s: about 90 s to go
    row.progress = 0.0
    db_session.commit()
    assert client.get(f"/api/jobs/{job_id}").json()["eta_s"] is None  # no pace yet
