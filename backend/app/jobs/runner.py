"""Run a job's logic as one attempt under a lease: claim the row, keep the lease alive from a thread,
give the logic its typed parameters, a scratch folder and a progress call, retry transient errors, and
record how it ended. Celery tasks call this; so does the CLI, to run a job in its own process.

docs/adr/2026-12-01-job-lifetimes-lease-heartbeat-reaper.md explains the rules this follows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import JobSettings
from app.core.logging import request_id_var
from app.jobs import scratch
from app.jobs.errors import JobCancelledError, LeaseLostError, is_transient
from app.jobs.kinds import KINDS, read_params
from app.models.job import Job, JobKind, JobQueue, JobState
from app.schemas.job import JobParams, JobResult
from app.services import jobs as jobs_service

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=JobParams)
T = TypeVar("T")
Progress = Callable[[float, str], None]

# How long an attempt keeps trying to record its outcome while the database is unreachable.
RECORD_PATIENCE_S = 600.0


class _Lease:
    """The attempt's lease: a thread renews it every heartbeat, whatever the logic is doing, and notes
    when a cancel is asked for or another attempt took the job over."""

    def __init__(
        self, factory: sessionmaker[Session], job_id: uuid.UUID, token: uuid.UUID, settings: JobSettings
    ) -> None:
        self.job_id, self.token, self.settings, self._factory = job_id, token, settings, factory
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.settings.heartbeat_s + 5)

    def _beat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_s):
            try:
                with self._factory() as session:
                    self.note(jobs_service.renew_lease(session, self.job_id, self.token))
            except Exception:
                # The database may be restarting; the lease lasts several heartbeats.
                logger.warning("job %s: heartbeat failed; trying again", self.job_id, exc_info=True)

    def note(self, state: jobs_service.LeaseState) -> None:
        if not state.held:
            self.lost.set()
        if state.cancel_requested:
            self.cancelled.set()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLostError(f"job {self.job_id}: another attempt holds the job now")
        if self.cancelled.is_set():
            raise JobCancelledError(f"job {self.job_id} was cancelled")

    def sleep(self, seconds: float) -> None:
        """Wait (between attempts), stopping early for a cancel or a lost lease."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.check()
            self._stop.wait(min(left, 0.2))
        self.check()


@dataclass
class JobContext(Generic[P]):
    """What job logic gets: the job's typed parameters, a session, its scratch folder, and progress."""

    job_id: uuid.UUID
    kind: JobKind
    queue: JobQueue
    project_id: uuid.UUID | None
    params: P
    attempt: int
    session: Session
    scratch: Path
    _lease: _Lease
    _progress_factory: sessionmaker[Session]
    _interval_s: float
    _on_progress: Progress | None = None
    _last_write: float = field(default=0.0, init=False)

    def progress(self, fraction: float, message: str) -> None:
        """Report progress (0 to 1) with a message for people; also a check (see ``check``).

        Written at most every JOBS__PROGRESS_INTERVAL_S; failing to write it never fails the job."""
        self.check()
        if self._on_progress is not None:
            self._on_progress(fraction, message)
        now = time.monotonic()
        if now - self._last_write < self._interval_s and fraction < 1:
            return
        self._last_write = now
        try:
            with self._progress_factory() as session:
                self._lease.note(
                    jobs_service.report_progress(session, self.job_id, self._lease.token, fraction, message)
                )
        except Exception as exc:
            if not is_transient(exc):
                raise
            logger.warning("job %s: progress not recorded (%s)", self.job_id, exc)
        self.check()

    def check(self) -> None:
        """Raise JobCancelledError when the job was cancelled, LeaseLostError when another attempt took it
        over. Long logic calls this between steps (``progress`` does it too)."""
        self._lease.check()

    def part(self, start: float, end: float) -> Progress:
        """A progress call for a step that covers ``start`` to ``end`` of the job."""
        return lambda fraction, message: self.progress(start + fraction * (end - start), message)


Handler = Callable[[JobContext[Any]], JobResult]


def run_job(
    job_id: str,
    handler: Handler,
    factory: sessionmaker[Session],
    settings: JobSettings,
    *,
    on_progress: Progress | None = None,
) -> JobState | None:
    """Run ``handler`` for the job with this id as one claim of its lease (with retries of transient errors
    inside it). Returns the state it recorded, or None when this delivery had nothing to do (unknown or
    final job, or one that a live attempt holds) or lost the lease.

    Args:
        factory: sessions (a worker's own; the CLI passes its own). The heartbeat uses it from a thread.
        on_progress: also told of each progress report (the CLI's progress bar).
    """
    jid = uuid.UUID(job_id)
    token_var = request_id_var.set(f"job-{job_id[:8]}")
    try:
        with factory() as session:
            claim = jobs_service.claim_job(
                session, jid, host=socket.gethostname(), pid=os.getpid(), lease_s=settings.lease_s
            )
        if claim is None:
            return None
        with _Lease(factory, jid, claim.token, settings) as lease:
            with factory() as session:
                scratch.sweep(session, settings.scratch_dir, job_id=jid)  # what earlier attempts here left
            return _attempts(claim, handler, factory, settings, lease, on_progress)
    finally:
        request_id_var.reset(token_var)


@dataclass(frozen=True)
class _Ended:
    """How one attempt ended: ``state`` to record (None: lost its lease), or a transient ``retry`` reason."""

    state: JobState | None
    payload: dict[str, Any] | None = None
    reason: str | None = None
    retry: bool = False


def _attempts(
    claim: jobs_service.Claim,
    handler: Handler,
    factory: sessionmaker[Session],
    settings: JobSettings,
    lease: _Lease,
    on_progress: Progress | None,
) -> JobState | None:
    job, token, attempt = claim.job, claim.token, claim.attempt
    while True:
        ended = _attempt(job, token, attempt, handler, factory, settings, lease, on_progress)
        if not ended.retry:
            return _record_end(factory, job.id, token, ended)
        assert ended.reason is not None
        next_attempt = _record(
            factory, partial(jobs_service.begin_retry, job_id=job.id, token=token, reason=ended.reason)
        )
        if next_attempt is None:
            return JobState.FAILED
        backoff = min(settings.retry_backoff_s * 2 ** (attempt - 1), settings.retry_backoff_max_s)
        attempt = next_attempt
        try:
            lease.sleep(backoff)
        except JobCancelledError:
            return _record_end(factory, job.id, token, _Ended(JobState.CANCELLED))
        except LeaseLostError:
            return None


def _attempt(
    job: Job,
    token: uuid.UUID,
    attempt: int,
    handler: Handler,
    factory: sessionmaker[Session],
    settings: JobSettings,
    lease: _Lease,
    on_progress: Progress | None,
) -> _Ended:
    """Run the logic once in a fresh scratch folder (removed afterwards, whatever happens)."""
    spec = KINDS[job.kind]
    folder = scratch.attempt_folder(settings.scratch_dir, job.id, token)
    try:
        with factory() as session:
            params = read_params(job.kind, job.params)
            context = JobContext(
                job.id,
                job.kind,
                job.queue,
                job.project_id,
                params,
                attempt,
                session,
                folder,
                lease,
                factory,
                settings.progress_interval_s,
                on_progress,
            )
            result = handler(context)
            if not isinstance(result, spec.result):
                raise TypeError(f"a {job.kind.value} job must return {spec.result.__name__}")
            return _Ended(JobState.SUCCEEDED, payload=result.model_dump(mode="json"))
    except JobCancelledError:
        logger.info("job %s cancelled during attempt %d", job.id, attempt)
        return _Ended(JobState.CANCELLED)
    except LeaseLostError:
        logger.warning("job %s: attempt %d lost its lease; it records nothing", job.id, attempt)
        return _Ended(None)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if is_transient(exc):
            logger.warning("job %s: attempt %d met a transient error: %s", job.id, attempt, reason)
            return _Ended(JobState.FAILED, reason=reason, retry=True)
        logger.exception("job %s failed", job.id)
        return _Ended(JobState.FAILED, reason=reason)
    finally:
        scratch.remove(folder)


def _record_end(
    factory: sessionmaker[Session], job_id: uuid.UUID, token: uuid.UUID, ended: _Ended
) -> JobState | None:
    """Record how the job ended; the state recorded, or None when the attempt had lost its lease."""
    if ended.state is None:
        return None
    if ended.state == JobState.SUCCEEDED:
        assert ended.payload is not None
        write = partial(jobs_service.finish_job, job_id=job_id, token=token, result=ended.payload)
    elif ended.state == JobState.CANCELLED:
        write = partial(jobs_service.record_cancelled, job_id=job_id, token=token)
    else:
        write = partial(jobs_service.fail_job, job_id=job_id, token=token, error=ended.reason or "failed")
    recorded = _record(factory, write)
    if recorded:
        logger.info("job %s %s", job_id, ended.state.value)
    return ended.state if recorded else None


def _record(factory: sessionmaker[Session], write: Callable[[Session], T]) -> T:
    """Write an attempt's outcome, trying again while the database is unreachable (the lease lasts)."""
    deadline = time.monotonic() + RECORD_PATIENCE_S
    delay = 0.5
    while True:
        try:
            with factory() as session:
                return write(session)
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            logger.warning("could not record a job's outcome (%s); trying again in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
