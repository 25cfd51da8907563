"""Task for the health probe job."""

from __future__ import annotations

from celery import shared_task

from workers.probe import run_probe
from workers.runtime import run_job


@shared_task(name="minelabel.probe")
def probe(job_id: str) -> None:
    run_job(job_id, run_probe)
