"""Tasks for Segment Anything (gpu queue): embeddings, batch pre-labels and carry-forward. torch is imported
inside the task, in the pool process that runs it, never when the worker starts."""

from __future__ import annotations

from celery import shared_task

from app.core.config import get_settings
from app.jobs.runner import run_job
from workers.db import session_factory


@shared_task(name="minelabel.sam_embed")
def sam_embed(job_id: str) -> None:
    from workers.ml.sam.embed import embed

    run_job(job_id, embed, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.sam_prelabel")
def sam_prelabel(job_id: str) -> None:
    from workers.ml.sam.prelabel import prelabel

    run_job(job_id, prelabel, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.sam_carry_forward")
def sam_carry_forward(job_id: str) -> None:
    from workers.ml.sam.prelabel import carry_forward

    run_job(job_id, carry_forward, session_factory(), get_settings().jobs)
