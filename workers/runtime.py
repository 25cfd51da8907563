"""Run a job's logic around its row: running -> progress -> succeeded | failed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.core.logging import request_id_var
from app.models.job import Job
from app.services import jobs as jobs_service
from workers.db import session_factory

logger = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What job logic gets: its job row (read at start) and a way to report progress."""

    job: Job
    session: Session
    _progress_session: Session
    _on_progress: Callable[[float, str], None] | None = None

    def progress(self, fraction: float, message: str) -> None:
        # Progress commits in its own session so that the job's own transaction stays untouched.
        jobs_service.report_progress(self._progress_session, self.job.id, fraction, message)
        if self._on_progress is not None:
            self._on_progress(fraction, message)


JobLogic = Callable[[JobContext], dict[str, Any]]


def run_job(
    job_id: str,
    logic: JobLogic,
    factory: sessionmaker[Session] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> None:
    """Run ``logic`` for the job with this id, unless the job is unknown or already final.

    Args:
        factory: sessions to use; a worker's own by default (the CLI passes its own to run jobs inline).
        on_progress: also told of each progress report (the CLI's progress bar).
    """
    factory = factory or session_factory()
    jid = uuid.UUID(job_id)
    token = request_id_var.set(f"job-{job_id[:8]}")
    try:
        with factory() as session, factory() as progress_session:
            job = jobs_service.start_job(session, jid)
            if job is None:
                logger.info("job %s is unknown or already final; nothing to do", job_id)
                return
            try:
                result = logic(JobContext(job, session, progress_session, on_progress))
            except Exception as exc:
                logger.exception("job %s failed", job_id)
                jobs_service.fail_job(session, jid, f"{type(exc).__name__}: {exc}")
                return
            jobs_service.finish_job(session, jid, result)
            logger.info("job %s succeeded", job_id)
    finally:
        request_id_var.reset(token)
