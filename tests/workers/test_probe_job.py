"""API -> Redis -> a real Celery worker process -> PostGIS, and back through the API."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import workers.db
from app.core.config import Settings, get_settings
from app.models import Job, JobQueue, JobState
from workers.tasks.probe import probe

pytestmark = pytest.mark.slow


def wait_for_final(client: TestClient, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen_progress: list[float] = []
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        seen_progress.append(job["progress"])
        if job["state"] in ("succeeded", "failed"):
            job["seen_progress"] = seen_progress
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s: {job}")


@pytest.mark.parametrize("queue", ["cpu", "gpu"])
def test_probe_runs_on_a_worker_and_reports_progress(
    worker: str, committing_client: TestClient, queue: str
) -> None:
    response = committing_client.post(
        "/api/jobs/probe", json={"queue": queue, "steps": 4, "step_seconds": 0.3}
    )
    assert response.status_code == 202
    job = wait_for_final(committing_client, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["attempts"] == 1
    assert job["result"]["queue"] == queue
    assert job["result"]["postgis_version"].startswith("3.")
    assert job["started_at"] is not None and job["finished_at"] is not None
    # Progress was visible while it ran, not only at the end.
    assert any(0 < p < 1 for p in job["seen_progress"]), job["seen_progress"]


def test_health_is_ok_with_a_worker_on_both_queues(worker: str, committing_client: TestClient) -> None:
    report = committing_client.get("/api/health").json()
    assert report["status"] == "ok", report
    assert worker in report["workers"]["workers"]
    assert worker in report["workers"]["queues"]["cpu"]
    assert worker in report["workers"]["queues"]["gpu"]
    # Each worker with its queues, pool size and GPUs (none on a machine without nvidia-smi).
    (node,) = [n for n in report["workers"]["nodes"] if n["name"] == worker]
    assert node["queues"] == ["cpu", "gpu"]
    assert node["concurrency"] == 1
    if shutil.which("nvidia-smi") is None:
        assert node["gpus"] == []
    else:
        assert node["gpus"] and all(gpu["name"] and gpu["memory_mib"] > 0 for gpu in node["gpus"])


def test_a_failing_job_records_its_error(worker: str, committing_client: TestClient) -> None:
    response = committing_client.post("/api/jobs/probe", json={"fail_with": "disk on fire"})
    job = wait_for_final(committing_client, response.json()["id"])
    assert job["state"] == "failed"
    assert job["error"] == "ProbeFailedError: disk on fire"
    assert job["result"] is None


@pytest.fixture
def in_process_worker(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let task code run in this process against the test database (as a worker would)."""
    monkeypatch.setenv("DB__URL", settings.db.url)
    monkeypatch.setattr(workers.db, "_factory", None)
    monkeypatch.setattr(workers.db, "_engine", None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_redelivered_task_does_not_run_a_final_job_again(
    worker: str, committing_client: TestClient, engine: Engine, in_process_worker: None
) -> None:
    job_id = committing_client.post("/api/jobs/probe", json={}).json()["id"]
    first = wait_for_final(committing_client, job_id)
    assert first["state"] == "succeeded"
    # Deliver the same task again (what acks_late does after a worker crash), in this process.
    probe.run(job_id)
    with Session(engine) as session:
        job = session.get(Job, uuid.UUID(job_id))
        assert job is not None
        assert job.attempts == 1
        assert job.state == JobState.SUCCEEDED
        assert job.queue == JobQueue.CPU
        assert job.finished_at is not None
        assert job.finished_at.isoformat() == first["finished_at"].replace("Z", "+00:00")
