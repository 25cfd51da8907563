"""Job lifecycle: submit (row first, enqueue after commit) and the state changes a worker records.

The row is the truth. A task that is delivered twice (acks_late after a worker crash) finds the row
already final and does nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import JobNotFoundError, ServiceUnavailableError
from app.models.job import Job, JobQueue, JobState
from app.repositories import jobs as jobs_repo

logger = logging.getLogger(__name__)

# kind -> Celery task name. The worker side registers tasks under these names.
TASK_BY_KIND: dict[str, str] = {
    "probe": "minelabel.probe",
    "ingest": "minelabel.ingest",
    "render": "minelabel.render",
    "export": "minelabel.export",
}

Enqueue = Callable[[str, str, str], None]
"""enqueue(task_name, job_id, queue): hand a job to the broker."""


def submit_job(
    session: Session,
    *,
    kind: str,
    queue: JobQueue,
    params: dict[str, Any],
    enqueue: Enqueue,
    created_by: uuid.UUID | None = None,
) -> Job:
    """Store a queued job, commit, then enqueue it (see enqueue_job)."""
    job = Job(kind=kind, queue=queue, params=params, state=JobState.QUEUED, created_by=created_by)
    session.add(job)
    session.commit()
    enqueue_job(session, job, enqueue)
    return job


def enqueue_job(session: Session, job: Job, enqueue: Enqueue) -> None:
    """Hand a committed job to the broker; if it cannot be reached, mark the job failed and raise
    ServiceUnavailableError (so no row claims to be queued forever)."""
    try:
        enqueue(TASK_BY_KIND[job.kind], str(job.id), job.queue.value)
    except Exception as exc:
        logger.exception("could not enqueue job %s", job.id)
        job.state = JobState.FAILED
        job.error = f"could not reach the job queue: {exc}"
        job.finished_at = datetime.now(UTC)
        session.commit()
        raise ServiceUnavailableError(
            "The job queue (Redis) is not reachable, so the job was not started; "
            "check REDIS__URL and that Redis runs, then submit again."
        ) from exc


def get_job_or_raise(session: Session, job_id: uuid.UUID) -> Job:
    job = jobs_repo.get_job(session, job_id)
    if job is None:
        raise JobNotFoundError(f"No job with id {job_id}.")
    return job


def start_job(session: Session, job_id: uuid.UUID) -> Job | None:
    """Mark a job running and commit; None when it is unknown or already final (a redelivery)."""
    job = jobs_repo.get_job(session, job_id, for_update=True)
    if job is None or job.state.is_final:
        session.rollback()
        return None
    job.state = JobState.RUNNING
    job.attempts += 1
    job.started_at = datetime.now(UTC)
    job.error = None
    session.commit()
    return job


def report_progress(session: Session, job_id: uuid.UUID, fraction: float, message: str) -> None:
    job = jobs_repo.get_job(session, job_id, for_update=True)
    if job is None or job.state != JobState.RUNNING:
        session.rollback()
        return
    job.progress = min(max(fraction, 0.0), 1.0)
    job.message = message
    session.commit()


def finish_job(session: Session, job_id: uuid.UUID, result: dict[str, Any]) -> None:
    job = jobs_repo.get_job(session, job_id, for_update=True)
    if job is None:
        session.rollback()
        return
    job.state = JobState.SUCCEEDED
    job.progress = 1.0
    job.message = "done"
    job.result = result
    job.finished_at = datetime.now(UTC)
    session.commit()


def fail_job(session: Session, job_id: uuid.UUID, error: str) -> None:
    session.rollback()
    job = jobs_repo.get_job(session, job_id, for_update=True)
    if job is None:
        session.rollback()
        return
    job.state = JobState.FAILED
    job.error = error
    job.finished_at = datetime.now(UTC)
    session.commit()
