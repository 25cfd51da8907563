"""Tasks for imagery jobs: ingest (COG conversion, display ranges, thumbnails), render (thumbnails
again after a change of display preset) and georeference (a COG again after a georeferencing correction)."""

from __future__ import annotations

from celery import shared_task

from app.core.config import get_settings
from app.jobs import handlers
from app.jobs.runner import run_job
from workers.db import session_factory


@shared_task(name="minelabel.ingest")
def ingest(job_id: str) -> None:
    run_job(job_id, handlers.ingest, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.render")
def render(job_id: str) -> None:
    run_job(job_id, handlers.render, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.georeference")
def georeference(job_id: str) -> None:
    run_job(job_id, handlers.georeference, session_factory(), get_settings().jobs)
