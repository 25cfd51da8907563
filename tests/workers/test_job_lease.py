"""The lease rules of a job, in this process against the committed test database: who may claim a job,
what an attempt that lost its lease can still write (nothing), how the runner treats a row with bad
parameters, and what the scratch sweep keeps."""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import JobSettings
from app.jobs import handlers, scratch
from app.jobs.runner import run_job
from app.models import (
    GeorefSource,
    Job,
    JobKind,
    JobQueue,
    JobState,
    Observation,
    ObservationStatus,
    Project,
    Site,
)
from app.schemas.job import IngestParams, ProbeParams
from app.services import jobs as jobs_service
from tests.world import make_project

HOST = socket.gethostname()


@pytest.fixture
def factory(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """Committing sessions; every job and project made here is deleted afterwards."""
    made = sessionmaker(bind=engine, expire_on_commit=False)
    with made() as session:
        jobs_before = set(session.scalars(Job.__table__.select().with_only_columns(Job.id)))
        projects_before = set(session.scalars(Project.__table__.select().with_only_columns(Project.id)))
    yield made
    with made() as session:
        session.execute(delete(Job).where(Job.id.not_in(jobs_before)))
        session.execute(delete(Project).where(Project.id.not_in(projects_before)))
        session.commit()


def queued_probe(session: Session, **params: object) -> Job:
    job = jobs_service.new_job(
        JobKind.PROBE,
        ProbeParams.model_validate(params),
        project_id=None,
        created_by=None,
        settings=JobSettings(),
    )
    session.add(job)
    session.commit()
    return job


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_live_attempt_keeps_its_job_and_a_gone_one_loses_it(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        job = queued_probe(session)
        first = jobs_service.claim_job(session, job.id, host=HOST, pid=1, lease_s=60)  # pid 1 lives
        assert first is not None and first.attempt == 1
        # A second delivery while the lease is fresh and its holder alive: nothing happens.
        assert jobs_service.claim_job(session, job.id, host=HOST, pid=2, lease_s=60) is None
        # The holder's process on this host is gone (its pool process was killed): taken over at once.
        holder = session.get(Job, job.id)
        assert holder is not None
        holder.lease_pid = dead_pid()
        session.commit()
        second = jobs_service.claim_job(session, job.id, host=HOST, pid=3, lease_s=60)
        assert second is not None and second.attempt == 2 and second.token != first.token
        row = session.get(Job, job.id)
        assert row is not None
        assert [e["outcome"] for e in row.attempt_log] == ["lost", "running"]
        assert row.attempt_log[0]["reason"] == "the worker stopped (its process is gone)"
        # The first attempt, cut off, can record nothing any more.
        assert jobs_service.finish_job(session, job.id, first.token, {"x": 1}) is False
        assert not jobs_service.renew_lease(session, job.id, first.token).held
        assert jobs_service.report_progress(session, job.id, second.token, 0.5, "half").held
        session.refresh(row)
        assert row.state == JobState.RUNNING and row.result is None and row.progress == 0.5


def test_a_lease_not_renewed_in_time_is_taken_over_from_another_host(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        job = queued_probe(session)
        assert jobs_service.claim_job(session, job.id, host="elsewhere", pid=1, lease_s=60) is not None
        assert jobs_service.claim_job(session, job.id, host=HOST, pid=2, lease_s=60) is None
        holder = session.get(Job, job.id)
        assert holder is not None
        holder.heartbeat_at = datetime.now(UTC) - timedelta(seconds=120)
        session.commit()
        taken = jobs_service.claim_job(session, job.id, host=HOST, pid=2, lease_s=60)
        assert taken is not None and taken.attempt == 2
        row = session.get(Job, job.id)
        assert row is not None and "no heartbeat for more than 60 s" in row.attempt_log[0]["reason"]


def test_a_row_with_bad_parameters_fails_at_once_naming_them(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with factory() as session:
        job = queued_probe(session)
        job.params = {"steps": "many", "colour": "red"}  # as an older version might have written it
        session.commit()
    state = run_job(str(job.id), handlers.probe, factory, JobSettings(scratch_dir=tmp_path))
    assert state == JobState.FAILED
    with factory() as session:
        row = session.get(Job, job.id)
        assert row is not None and row.error is not None
        assert row.error.startswith("InvalidJobParamsError: Invalid parameters for a probe job: steps: ")
        assert "colour: Extra inputs are not permitted" in row.error
        assert row.attempts == 1
    assert list(tmp_path.iterdir()) == []


def test_the_sweep_keeps_live_attempts_folders_only(factory: sessionmaker[Session], tmp_path: Path) -> None:
    with factory() as session:
        live = queued_probe(session)
        claim = jobs_service.claim_job(session, live.id, host=HOST, pid=1, lease_s=60)
        assert claim is not None
        ended = queued_probe(session)
        keep = scratch.attempt_folder(tmp_path, live.id, claim.token)
        stale = scratch.attempt_folder(tmp_path, live.id, uuid.uuid4())  # an earlier attempt of it
        finished = scratch.attempt_folder(tmp_path, ended.id, uuid.uuid4())
        unknown = scratch.attempt_folder(tmp_path, uuid.uuid4(), uuid.uuid4())
        other = tmp_path / "not-an-attempt"
        other.mkdir()
        removed = scratch.sweep(session, tmp_path)
    assert sorted(removed) == sorted([stale, finished, unknown])
    assert sorted(tmp_path.iterdir()) == sorted([keep, other])


def test_a_cancelled_ingest_leaves_no_observation_processing(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        project = make_project(session, "cancel-ingest")
        job = jobs_service.new_job(
            JobKind.INGEST,
            IngestParams(observation_ids=[uuid.uuid4()]),
            project_id=project.id,
            created_by=None,
            settings=JobSettings(),
        )
        session.add(job)
        session.flush()
        site = Site(project_id=project.id, name="s")
        session.add(site)
        session.flush()
        observation = Observation(
            project_id=project.id,
            site_id=site.id,
            index=0,
            original_filename="a.tif",
            content_hash="c" * 64,
            size_bytes=1,
            driver="GTiff",
            width=1,
            height=1,
            band_count=1,
            band_names=["b1"],
            dtype="uint8",
            has_alpha=False,
            georef_source=GeorefSource.NONE,
            status=ObservationStatus.PROCESSING,
            original_key="k",
            ingest_job_id=job.id,
        )
        session.add(observation)
        session.commit()
        jobs_service.cancel_job(session, job.id)
        session.commit()
        session.refresh(observation)
        assert observation.status is ObservationStatus.FAILED
        assert observation.error == "not converted: the job was cancelled"
        assert job.state == JobState.CANCELLED and job.queue == JobQueue.CPU


def test_a_new_attempt_takes_over_from_a_killed_process_and_removes_its_files(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with factory() as session:
        job = queued_probe(session, steps=2)
        killed = jobs_service.claim_job(session, job.id, host=HOST, pid=dead_pid(), lease_s=60)
        assert killed is not None
    left = scratch.attempt_folder(tmp_path, job.id, killed.token)
    (left / "half-written.tif").write_bytes(b"x" * 1000)
    state = run_job(str(job.id), handlers.probe, factory, JobSettings(scratch_dir=tmp_path))
    assert state == JobState.SUCCEEDED
    with factory() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert row.attempts == 2
        assert [e["outcome"] for e in row.attempt_log] == ["lost", "succeeded"]
        assert row.result is not None and row.result["attempt"] == 2
    assert list(tmp_path.iterdir()) == []


def test_every_kind_has_its_models_queue_and_a_task_the_workers_run() -> None:
    from app.jobs.kinds import KINDS
    from workers.celery_app import celery_app

    assert set(KINDS) == set(JobKind)
    celery_app.loader.import_default_modules()  # what a worker does when it starts (the task modules)
    registered = set(celery_app.tasks)
    for spec in KINDS.values():
        assert spec.kind == KINDS[spec.kind].kind
        assert spec.task_name in registered, spec.kind
