"""Jobs through the API, without a worker: validation, listing, and a broker that is down."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import RedisSettings, Settings
from app.main import create_app
from app.models import Job, JobState
from tests.services import free_port


def test_probe_is_queued_and_listed(client: TestClient, db_session: Session) -> None:
    response = client.post("/api/jobs/probe", json={"queue": "gpu", "steps": 2})
    assert response.status_code == 202
    job = response.json()
    assert job["state"] == "queued"
    assert job["queue"] == "gpu"
    assert job["progress"] == 0.0
    assert job["params"] == {"steps": 2, "step_seconds": 0.0, "fail_with": None}
    assert db_session.get(Job, uuid.UUID(job["id"])) is not None

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
        ({"step_seconds": 60}, "step_seconds"),
        ({"surprise": 1}, "surprise"),
    ]:
        response = client.post("/api/jobs/probe", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][-1] == field
    assert db_session.scalars(select(Job)).all() == []


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
