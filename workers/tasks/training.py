"""Tasks for retraining: datasets (cpu queue), training and prediction (gpu queue). torch is imported inside
the GPU tasks, in the pool process that runs them; the training itself runs in a subprocess of its own."""

from __future__ import annotations

from celery import shared_task

from app.core.config import get_settings
from app.jobs import handlers
from app.jobs.runner import run_job
from workers.db import session_factory


@shared_task(name="minelabel.dataset")
def dataset(job_id: str) -> None:
    run_job(job_id, handlers.dataset, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.train")
def train(job_id: str) -> None:
    from workers.ml.training.train import train

    run_job(job_id, train, session_factory(), get_settings().jobs)


@shared_task(name="minelabel.predict")
def predict(job_id: str) -> None:
    from workers.ml.training.predict import predict

    run_job(job_id, predict, session_factory(), get_settings().jobs)
