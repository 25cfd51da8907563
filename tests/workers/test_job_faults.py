"""Jobs when things die, with real processes: a stack of its own (PostgreSQL, a Redis that keeps its data,
Celery beat running the reaper, workers started and killed with kill -9), short leases so that it takes
seconds, and probe jobs as the long job. Every accepted job must end exactly once, and leave no files.

The stack is this module's own because the tests restart its PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.core.config import DatabaseSettings, JobSettings, RedisSettings, Settings, StorageSettings
from app.core.migrations import upgrade
from app.devstack.processes import beat_command
from app.main import create_app
from app.models import Job, JobState
from app.services.auth import create_api_token
from app.services.users import create_user
from tests.conftest import PASSWORD
from tests.services import REPO_ROOT, RunningServices, WorkerProcess, running_services, service_env

pytestmark = pytest.mark.slow

JOBS = JobSettings(
    heartbeat_s=0.5,
    lease_s=5.0,
    reap_interval_s=1.0,
    max_attempts=3,
    retry_backoff_s=0.3,
    resend_after_s=2.0,
    progress_interval_s=0.0,
)


@dataclass
class FaultStack:
    services: RunningServices
    settings: Settings
    env: dict[str, str]
    client: TestClient
    celery: Celery
    engine: Engine
    scratch: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    _names: int = 0

    def worker(self, queues: str = "cpu", concurrency: int = 1) -> WorkerProcess:
        self._names += 1
        started = WorkerProcess(
            self.env, self.celery, f"fault-{os.getpid()}-{self._names}", queues, concurrency
        )
        self.workers.append(started)
        return started

    def probe(self, **params: Any) -> str:
        response = self.client.post("/api/jobs/probe", json=params)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def job(self, job_id: str) -> Job:
        with Session(self.engine) as session:
            job = session.get(Job, uuid.UUID(job_id))
            assert job is not None
            return job

    def wait(self, job_id: str, until: Callable[[Job], bool], what: str, timeout_s: float = 60) -> Job:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                job = self.job(job_id)
                if until(job):
                    return job
            except Exception:  # the database may be restarting
                job = None
            if time.monotonic() > deadline:
                logs = "\n".join(w.log()[-3000:] for w in self.workers)
                raise AssertionError(f"job {job_id} never {what}: {job and job.__dict__}\n{logs}")
            time.sleep(0.1)

    def wait_final(self, job_id: str, timeout_s: float = 90) -> Job:
        return self.wait(job_id, lambda j: j.state.is_final, "ended", timeout_s)

    def wait_running(self, job_id: str, min_progress: float = 0.05) -> Job:
        return self.wait(job_id, lambda j: j.state == JobState.RUNNING and j.progress >= min_progress, "ran")

    def scratch_left(self) -> list[Path]:
        return sorted(self.scratch.iterdir()) if self.scratch.is_dir() else []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    with running_services("minelabel-faults-", persistent_redis=True) as services:
        services.postgres.ensure_database("faults")
        db_url = services.db_url("faults")
        upgrade(db_url)
        scratch = tmp_path_factory.mktemp("fault-scratch")
        jobs = JOBS.model_copy(
            update={
                "scratch_dir": scratch,
                "beat_schedule_file": tmp_path_factory.mktemp("beat") / "schedule",
            }
        )
        settings = Settings(
            db=DatabaseSettings(url=db_url),
            redis=RedisSettings(url=services.redis.url),
            storage=StorageSettings(data_dir=tmp_path_factory.mktemp("fault-files")),
            jobs=jobs,
        )
        env = service_env(
            db_url,
            services.redis.url,
            STORAGE__DATA_DIR=str(settings.storage.data_dir),
            **{f"JOBS__{name.upper()}": str(value) for name, value in jobs.model_dump().items()},
        )
        engine = create_engine(db_url, poolclass=NullPool)
        with Session(engine) as session:
            admin = create_user(session, email="faults@test.local", password=PASSWORD, is_admin=True)
            _, key = create_api_token(session, admin, "faults")
        beat_log = (tmp_path_factory.mktemp("beat-log") / "beat.log").open("wb")
        beat = subprocess.Popen(
            beat_command(settings),
            env=env,
            cwd=REPO_ROOT,
            stdout=beat_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        app = create_app(settings)
        client = TestClient(app, headers={"Authorization": f"Token {key}"})
        fault_stack = FaultStack(services, settings, env, client, app.state.celery, engine, scratch)
        try:
            yield fault_stack
        finally:
            for worker in fault_stack.workers:
                worker.stop()
            beat.terminate()
            beat.wait(timeout=30)
            beat_log.close()
            client.close()
            engine.dispose()


@pytest.fixture(autouse=True)
def _stop_workers_after_each_test(stack: FaultStack) -> Iterator[None]:
    yield
    for worker in stack.workers:
        worker.stop()
    stack.workers.clear()


def running_attempt(number: int) -> Callable[[Job], bool]:
    return lambda job: job.state == JobState.RUNNING and job.attempts == number


def outcomes(job: Job) -> list[str]:
    return [entry["outcome"] for entry in job.attempt_log]


def test_a_second_delivery_of_a_running_job_does_nothing(stack: FaultStack) -> None:
    worker = stack.worker(concurrency=2)
    job_id = stack.probe(steps=15, step_seconds=0.2)
    stack.wait_running(job_id)
    # The same message again, as Redis does after its visibility timeout: the second pool process gets it.
    stack.celery.send_task("minelabel.probe", args=[job_id], queue="cpu")
    job = stack.wait_final(job_id)
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 1
    assert outcomes(job) == ["succeeded"]
    assert "held by attempt 1" in worker.log()


def test_kill_9_of_the_pool_process_mid_job(stack: FaultStack) -> None:
    stack.worker()
    job_id = stack.probe(steps=20, step_seconds=0.25, scratch_bytes=50 << 20)
    running = stack.wait_running(job_id)
    assert running.lease_pid is not None
    assert [p.name for p in stack.scratch_left()] == [f"{job_id}-{running.lease_token}"]
    os.kill(running.lease_pid, signal.SIGKILL)
    job = stack.wait_final(job_id)
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.attempts == 2
    assert outcomes(job) == ["lost", "succeeded"]
    # Celery redelivers the message when it notices the lost process (the new attempt sees the holder's
    # process gone), unless the reaper finds the expired lease first (these leases last 5 s).
    reason = job.attempt_log[0]["reason"]
    assert "its process is gone" in reason or "no heartbeat since" in reason, reason
    assert stack.scratch_left() == []  # the 50 MB of the killed attempt went with it


def test_kill_9_of_the_whole_worker_and_another_takes_over(stack: FaultStack) -> None:
    first = stack.worker()
    job_id = stack.probe(steps=20, step_seconds=0.25, scratch_bytes=10 << 20)
    stack.wait_running(job_id)
    first.kill()
    stack.worker()
    job = stack.wait_final(job_id)
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.attempts == 2
    assert outcomes(job) == ["lost", "succeeded"]
    assert "no heartbeat since" in job.attempt_log[0]["reason"]
    assert stack.scratch_left() == []


def test_out_of_attempts_the_job_fails_saying_why(stack: FaultStack) -> None:
    job_id = stack.probe(steps=40, step_seconds=0.25)
    with Session(stack.engine) as session:  # this job may run twice (JOBS__MAX_ATTEMPTS at submit)
        session.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(max_attempts=2))
        session.commit()
    for attempt in (1, 2):
        worker = stack.worker()
        stack.wait(job_id, running_attempt(attempt), f"ran attempt {attempt}")
        worker.kill()
    stack.worker()  # runs the reaper
    job = stack.wait_final(job_id)
    assert job.state == JobState.FAILED
    assert job.error is not None
    assert job.error.startswith("Gave up after 2 attempt(s) (max_attempts 2).")
    assert "attempt 1: the worker stopped" in job.error or "attempt 1: no heartbeat" in job.error
    assert outcomes(job) == ["lost", "lost"]


def test_cancel_a_running_job_stops_it_and_removes_its_files(stack: FaultStack) -> None:
    stack.worker()
    job_id = stack.probe(steps=200, step_seconds=0.1, scratch_bytes=1 << 20)
    stack.wait_running(job_id, min_progress=0.02)
    assert stack.scratch_left()
    answer = stack.client.post(f"/api/jobs/{job_id}/cancel").json()
    assert answer["cancel_requested"] is True
    job = stack.wait_final(job_id, timeout_s=10)
    assert job.state == JobState.CANCELLED
    assert job.progress < 1
    assert outcomes(job) == ["cancelled"]
    assert stack.scratch_left() == []


def test_a_cancelled_queued_job_never_starts(stack: FaultStack) -> None:
    job_id = stack.probe(queue="gpu")  # no worker on the gpu queue yet
    assert stack.client.post(f"/api/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    worker = stack.worker(queues="gpu")
    deadline = time.monotonic() + 30
    while f"job {job_id} has already cancelled; nothing to do" not in worker.log():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)
    assert stack.job(job_id).attempts == 0


def test_transient_errors_are_retried_and_bad_input_fails_at_once(stack: FaultStack) -> None:
    stack.worker()
    flaky = stack.probe(transient_failures=2)
    broken = stack.probe(fail_with="disk on fire")
    job = stack.wait_final(flaky)
    assert job.state == JobState.SUCCEEDED
    assert job.attempts == 3
    assert outcomes(job) == ["retrying", "retrying", "succeeded"]
    assert "TransientJobError" in job.attempt_log[0]["reason"]
    assert job.result is not None and job.result["attempt"] == 3
    failed = stack.wait_final(broken)
    assert failed.state == JobState.FAILED
    assert failed.attempts == 1
    assert failed.error == "ProbeFailedError: disk on fire"


def test_a_redis_restart_during_jobs(stack: FaultStack) -> None:
    stack.worker()
    jobs = [stack.probe(steps=10, step_seconds=0.2) for _ in range(3)]
    stack.wait_running(jobs[0])
    stack.services.redis.stop()
    time.sleep(1)
    stack.services.redis.start()
    for job_id in jobs:
        job = stack.wait_final(job_id)
        assert job.state == JobState.SUCCEEDED, job.error
        assert outcomes(job).count("succeeded") == 1
    # The API's own connections to Redis recover too: a job submitted now runs.
    after = stack.probe()
    assert stack.wait_final(after).state == JobState.SUCCEEDED


def test_a_postgresql_restart_during_jobs(stack: FaultStack) -> None:
    stack.worker()
    jobs = [stack.probe(steps=10, step_seconds=0.2) for _ in range(2)]
    stack.wait_running(jobs[0])
    stack.services.postgres.stop()
    time.sleep(1)
    stack.services.postgres.start()
    stack.services.postgres.wait_ready()
    for job_id in jobs:
        job = stack.wait_final(job_id)
        assert job.state == JobState.SUCCEEDED, job.error
        assert outcomes(job).count("succeeded") == 1
        assert job.result is not None and job.result["attempt"] == job.attempts


def test_a_message_that_redis_lost_is_sent_again(stack: FaultStack) -> None:
    job_id = stack.probe(queue="gpu")  # waits in Redis: no worker on the gpu queue
    stack.worker()  # a cpu worker, which runs the reaper
    redis.Redis.from_url(stack.settings.redis.url).flushall()  # Redis forgets everything
    gpu = stack.worker(queues="gpu")
    job = stack.wait_final(job_id, timeout_s=30)
    assert job.state == JobState.SUCCEEDED
    assert job.result is not None and job.result["hostname"]
    assert "minelabel.probe" in gpu.log()
