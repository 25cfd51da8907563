"""Task for the export job: a large export written to storage, with progress, for download when done."""

from __future__ import annotations

from celery import shared_task

from app.core.config import get_settings
from app.jobs import handlers
from app.jobs.runner import run_job
from workers.db import session_factory


@shared_task(name="minelabel.export")
def export(job_id: str) -> None:
    run_job(job_id, handlers.export, session_factory(), get_settings().jobs)
