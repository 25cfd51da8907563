"""Job lifecycle: submit (row first, enqueue after commit), cancel, and what an attempt records: its claim on
the job (the lease), heartbeats, progress, and how it ended; plus the reaper that finds dead attempts.

The row is the truth (docs/adr/2026-12-01-job-lifetimes-lease-heartbeat-reaper.md). Every write of an
attempt names its lease token, so an attempt that lost its lease changes nothing. Times are the database's
``now()``, so the clocks of the machines involved do not matter.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core import queue
from app.core.config import JobSettings, Settings
from app.core.errors import ConflictError, JobNotFoundError, ServiceUnavailableError
from app.jobs.kinds import KINDS
from app.models.job import Job, JobKind, JobQueue, JobState
from app.repositories import jobs as jobs_repo
from app.schemas.job import JobParams
from app.services.imagery_processing import fail_unconverted_observations

logger = logging.getLogger(__name__)


# --- submitting and cancelling (the API side) ----------------------------------------------------


def new_job(
    kind: JobKind,
    params: JobParams,
    *,
    project_id: uuid.UUID | None,
    created_by: uuid.UUID | None,
    settings: JobSettings,
    queue_override: JobQueue | None = None,
) -> Job:
    """A queued job row (not yet added to a session), its parameters checked against the kind's model."""
    spec = KINDS[kind]
    if not isinstance(params, spec.params):
        raise TypeError(f"a {kind.value} job takes {spec.params.__name__}, not {type(params).__name__}")
    return Job(
        id=uuid.uuid4(),
        kind=kind,
        queue=queue_override or spec.queue,
        project_id=project_id,
        params=params.model_dump(mode="json"),
        state=JobState.QUEUED,
        created_by=created_by,
        max_attempts=settings.max_attempts,
        attempts=0,
        attempt_log=[],
        progress=0.0,
        message="queued",
    )


def submit_job(session: Session, celery: Celery, job: Job) -> Job:
    """Store ``job`` (see new_job), commit, then enqueue it (see enqueue_job)."""
    session.add(job)
    session.commit()
    enqueue_job(session, celery, job)
    return job


def enqueue_job(session: Session, celery: Celery, job: Job) -> None:
    """Hand a committed job to the broker; if it cannot be reached, mark the job failed and raise
    ServiceUnavailableError (so no row claims to be queued forever)."""
    try:
        queue.enqueue(celery, KINDS[job.kind].task_name, job)
    except Exception as exc:
        logger.exception("could not enqueue job %s", job.id)
        job.state = JobState.FAILED
        job.error = f"could not reach the job queue: {exc}"
        job.finished_at = _now(session)
        session.commit()
        raise ServiceUnavailableError(
            "The job queue (Redis) is not reachable, so the job was not started; "
            "check REDIS__URL and that Redis runs, then submit again."
        ) from exc
    job.enqueued_at = _now(session)
    session.commit()


def get_job_or_raise(session: Session, job_id: uuid.UUID) -> Job:
    job = jobs_repo.get_job(session, job_id)
    if job is None:
        raise JobNotFoundError(f"No job with id {job_id}.")
    return job


class JobFinishedError(ConflictError):
    code = "job_finished"


def cancel_job(session: Session, job_id: uuid.UUID) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop (it records ``cancelled`` at its
    next check). Flushes; the caller commits."""
    job = jobs_repo.get_job(session, job_id, for_update=True)
    if job is None:
        raise JobNotFoundError(f"No job with id {job_id}.")
    if job.state.is_final:
        raise JobFinishedError(f"Job {job_id} has already {job.state.value}; there is nothing to cancel.")
    now = _now(session)
    if job.state == JobState.QUEUED:
        _end(job, JobState.CANCELLED, now, "cancelled before it started")
        _after_give_up(session, job, "the job was cancelled")
    elif job.cancel_requested_at is None:
        job.cancel_requested_at = now
        job.message = "cancelling: the job stops at its next check"
    session.flush()
    return job


# --- what an attempt records (the worker side) ---------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """An attempt's hold on a job: the job as it was when claimed, and the token its writes must name."""

    job: Job
    token: uuid.UUID
    attempt: int


@dataclass(frozen=True)
class LeaseState:
    held: bool  # False: another attempt took the job over, or it ended
    cancel_requested: bool


def claim_job(session: Session, job_id: uuid.UUID, *, host: str, pid: int, lease_s: float) -> Claim | None:
    """Start an attempt of the job, and commit; None (nothing changed) when the job is unknown, final,
    or held by a live attempt (a second delivery)."""
    row = session.execute(
        select(Job, func.now(), (func.now() - Job.heartbeat_at) > timedelta(seconds=lease_s))
        .where(Job.id == job_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        session.rollback()
        logger.info("job %s is unknown; nothing to do", job_id)
        return None
    job, now, stale = row
    if job.state.is_final:
        session.rollback()
        logger.info("job %s has already %s; nothing to do", job_id, job.state.value)
        return None
    if job.state == JobState.RUNNING:
        holder_gone = (
            job.lease_host == host and job.lease_pid is not None and not _process_exists(job.lease_pid)
        )
        if not stale and not holder_gone:
            session.rollback()
            logger.info(
                "job %s is held by attempt %d on %s:%s; this delivery does nothing",
                job_id,
                job.attempts,
                job.lease_host,
                job.lease_pid,
            )
            return None
        why = "its process is gone" if holder_gone else f"no heartbeat for more than {lease_s:.0f} s"
        _close_attempt(job, now, "lost", f"the worker stopped ({why})")
    if job.cancel_requested_at is not None:
        _end(job, JobState.CANCELLED, now, "cancelled")
        _after_give_up(session, job, "the job was cancelled")
        session.commit()
        return None
    if job.attempts >= job.max_attempts:
        _give_up(session, job, now)
        session.commit()
        return None
    token = uuid.uuid4()
    job.state = JobState.RUNNING
    job.attempts += 1
    job.lease_token, job.lease_host, job.lease_pid = token, host, pid
    job.heartbeat_at = job.started_at = now
    job.progress, job.message, job.error = 0.0, f"attempt {job.attempts} starting", None
    job.attempt_log = [*job.attempt_log, _entry(job.attempts, f"{host}:{pid}", now)]
    session.commit()
    return Claim(job, token, job.attempts)


def renew_lease(session: Session, job_id: uuid.UUID, token: uuid.UUID) -> LeaseState:
    """The heartbeat: renew the lease, and learn whether a cancel was asked for. Commits."""
    return _touch(session, job_id, token)


def report_progress(
    session: Session, job_id: uuid.UUID, token: uuid.UUID, fraction: float, message: str
) -> LeaseState:
    """Progress (0 to 1) and a message for people; renews the lease too. Commits."""
    return _touch(session, job_id, token, progress=min(max(fraction, 0.0), 1.0), message=message[:500])


def _touch(session: Session, job_id: uuid.UUID, token: uuid.UUID, **values: object) -> LeaseState:
    cancel = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_token == token, Job.state == JobState.RUNNING)
        .values(heartbeat_at=func.now(), **values)
        .returning(Job.cancel_requested_at)
    ).one_or_none()
    session.commit()
    return LeaseState(held=cancel is not None, cancel_requested=cancel is not None and cancel[0] is not None)


def _held_job(session: Session, job_id: uuid.UUID, token: uuid.UUID) -> tuple[Job, datetime] | None:
    row = session.execute(
        select(Job, func.now())
        .where(Job.id == job_id, Job.lease_token == token, Job.state == JobState.RUNNING)
        .with_for_update()
    ).one_or_none()
    if row is None:
        session.rollback()
        logger.warning("job %s: this attempt no longer holds the lease; its outcome is not recorded", job_id)
        return None
    return row[0], row[1]


def finish_job(session: Session, job_id: uuid.UUID, token: uuid.UUID, result: dict[str, Any]) -> bool:
    """Record success (and commit); False when the attempt had lost its lease (nothing recorded)."""
    held = _held_job(session, job_id, token)
    if held is None:
        return False
    job, now = held
    job.result = result
    job.progress = 1.0
    _end(job, JobState.SUCCEEDED, now, "done")
    session.commit()
    return True


def fail_job(session: Session, job_id: uuid.UUID, token: uuid.UUID, error: str) -> bool:
    """Record failure (and commit); False when the attempt had lost its lease."""
    held = _held_job(session, job_id, token)
    if held is None:
        return False
    job, now = held
    job.error = error
    _end(job, JobState.FAILED, now, "failed", reason=error)
    _after_give_up(session, job, error)
    session.commit()
    return True


def record_cancelled(session: Session, job_id: uuid.UUID, token: uuid.UUID) -> bool:
    held = _held_job(session, job_id, token)
    if held is None:
        return False
    job, now = held
    _end(job, JobState.CANCELLED, now, "cancelled while running")
    _after_give_up(session, job, "the job was cancelled")
    session.commit()
    return True


def begin_retry(session: Session, job_id: uuid.UUID, token: uuid.UUID, reason: str) -> int | None:
    """After a transient error: close this attempt as ``retrying`` and open the next one under the same
    lease (and commit). Returns the new attempt's number; None when the lease is lost or the attempts are
    used up (then the job is failed with every attempt's reason)."""
    held = _held_job(session, job_id, token)
    if held is None:
        return None
    job, now = held
    _close_attempt(job, now, "retrying", reason)
    if job.attempts >= job.max_attempts:
        _give_up(session, job, now)
        session.commit()
        return None
    job.attempts += 1
    job.started_at = now
    job.progress, job.message = 0.0, f"attempt {job.attempts} after a transient error: {reason}"[:500]
    job.attempt_log = [*job.attempt_log, _entry(job.attempts, f"{job.lease_host}:{job.lease_pid}", now)]
    session.commit()
    return job.attempts


# --- the reaper ------------------------------------------------------------------------------------


@dataclass
class ReapReport:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    resent: list[uuid.UUID] = field(default_factory=list)


def reap(session: Session, settings: Settings, celery: Celery) -> ReapReport:
    """Re-queue (or fail, when out of attempts) running jobs whose lease expired, and resend queued jobs
    whose message the broker lost. Commits; enqueues after the commit."""
    report = ReapReport()
    rows = session.execute(
        select(Job, func.now())
        .where(
            Job.state == JobState.RUNNING,
            Job.heartbeat_at < func.now() - timedelta(seconds=settings.jobs.lease_s),
        )
        .with_for_update(skip_locked=True)
    ).all()
    to_send: list[Job] = []
    for job, now in rows:
        last_beat = job.heartbeat_at.isoformat(timespec="seconds") if job.heartbeat_at else "never"
        _close_attempt(job, now, "lost", f"no heartbeat since {last_beat}: the worker stopped")
        if job.attempts >= job.max_attempts:
            _give_up(session, job, now)
            report.failed.append(job.id)
            continue
        job.state = JobState.QUEUED
        job.lease_token = job.lease_host = job.lease_pid = None
        job.message = f"re-queued after attempt {job.attempts}: its worker stopped"
        to_send.append(job)
        report.requeued.append(job.id)
    session.commit()
    for job in to_send:
        _send_again(session, celery, job)

    in_broker = queue.job_ids_in_broker(settings)
    if in_broker is not None:
        waiting = session.scalars(
            select(Job).where(
                Job.state == JobState.QUEUED,
                Job.enqueued_at < func.now() - timedelta(seconds=settings.jobs.resend_after_s),
            )
        ).all()
        for job in waiting:
            if str(job.id) not in in_broker:
                logger.warning(
                    "job %s is queued but the broker holds no message for it; sending again", job.id
                )
                _send_again(session, celery, job)
                report.resent.append(job.id)
    return report


def _send_again(session: Session, celery: Celery, job: Job) -> None:
    try:
        queue.enqueue(celery, KINDS[job.kind].task_name, job)
    except Exception:
        # Still queued; the next round sends it (the broker does not hold it).
        logger.warning("could not send job %s again; the next reaper round tries", job.id, exc_info=True)
        return
    job.enqueued_at = _now(session)
    session.commit()


# --- helpers -------------------------------------------------------------------------------------


def _now(session: Session) -> datetime:
    now: datetime | None = session.scalar(select(func.now()))
    assert now is not None
    return now


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _entry(attempt: int, host: str, now: datetime) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "host": host,
        "started_at": now.isoformat(),
        "ended_at": None,
        "outcome": "running",
        "reason": None,
    }


def _close_attempt(job: Job, now: datetime, outcome: str, reason: str | None) -> None:
    """Close the current attempt's entry in the log (a new list, so that SQLAlchemy sees the change)."""
    log = [dict(entry) for entry in job.attempt_log]
    if log and log[-1].get("outcome") == "running":
        log[-1].update(ended_at=now.isoformat(), outcome=outcome, reason=reason)
    job.attempt_log = log


def _end(job: Job, state: JobState, now: datetime, message: str, *, reason: str | None = None) -> None:
    _close_attempt(job, now, state.value, reason)
    job.state = state
    job.message = message
    job.finished_at = now
    job.lease_token = job.lease_host = job.lease_pid = None


def _give_up(session: Session, job: Job, now: datetime) -> None:
    reasons = "; ".join(
        f"attempt {entry['attempt']}: {entry.get('reason') or entry['outcome']}" for entry in job.attempt_log
    )
    job.error = f"Gave up after {job.attempts} attempt(s) (max_attempts {job.max_attempts}). {reasons}"
    _end(job, JobState.FAILED, now, "failed: out of attempts")
    _after_give_up(session, job, job.error)


# What a kind must tidy when it ends without success (failed, out of attempts, or cancelled).
GIVE_UP_HOOKS: dict[JobKind, Callable[[Session, Job, str], None]] = {
    JobKind.INGEST: fail_unconverted_observations,
}


def _after_give_up(session: Session, job: Job, reason: str) -> None:
    hook = GIVE_UP_HOOKS.get(job.kind)
    if hook is not None:
        hook(session, job, reason)
