"""Tasks for imagery jobs: ingest (COG conversion, display ranges, thumbnails) and render (thumbnails
again after a change of display preset)."""

from __future__ import annotations

import uuid
from typing import Any

from celery import shared_task

from app.core.config import get_settings
from app.imagery.storage import make_storage
from app.services.imagery_processing import process_observations, refresh_project_rendering
from workers.runtime import JobContext, run_job


def ingest_logic(ctx: JobContext) -> dict[str, Any]:
    settings = get_settings()
    ids = [uuid.UUID(i) for i in ctx.job.params.get("observation_ids", [])]
    return process_observations(
        ctx.session, make_storage(settings.storage), ids, settings.tiles, ctx.progress
    )


@shared_task(name="minelabel.ingest")
def ingest(job_id: str) -> None:
    run_job(job_id, ingest_logic)


def render_logic(ctx: JobContext) -> dict[str, Any]:
    settings = get_settings()
    project_id = uuid.UUID(ctx.job.params["project_id"])
    return refresh_project_rendering(
        ctx.session, make_storage(settings.storage), project_id, settings.tiles, ctx.progress
    )


@shared_task(name="minelabel.render")
def render(job_id: str) -> None:
    run_job(job_id, render_logic)
