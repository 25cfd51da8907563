"""The reaper, run by Celery beat: re-queues jobs whose worker died, resends messages Redis lost, and
removes what dead attempts on this machine left in the scratch folder."""

from __future__ import annotations

import logging

from celery import current_app, shared_task

from app.core.config import get_settings
from app.jobs import scratch
from app.services import jobs as jobs_service
from workers.db import session_factory

logger = logging.getLogger(__name__)


@shared_task(name="minelabel.reap", ignore_result=True)
def reap() -> None:
    settings = get_settings()
    with session_factory()() as session:
        report = jobs_service.reap(session, settings, current_app)
        scratch.sweep(session, settings.jobs.scratch_dir)
    if report.requeued or report.failed or report.resent:
        logger.warning(
            "reaper: re-queued %s, failed %s, resent %s", report.requeued, report.failed, report.resent
        )
