"""The Celery app: Redis broker, two queues (cpu, gpu), at-least-once delivery.

Start a worker with ``celery -A workers.celery_app:celery_app worker -Q cpu,gpu``.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from app.core.config import Settings, get_settings

TASK_MODULES = ["workers.tasks.probe", "workers.tasks.imagery", "workers.tasks.exports"]


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``; the API makes one to send, the worker one to run."""
    app = Celery("minelabel", broker=settings.redis.url, include=TASK_MODULES)
    app.conf.update(
        task_queues=[Queue("cpu"), Queue("gpu")],
        task_default_queue="cpu",
        # A task is acknowledged only when it is done, and requeued when its worker dies mid-way;
        # tasks are idempotent (they re-read the job row) so a second delivery is harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Job state lives in PostGIS; a result backend would be a second, weaker record.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Fail a publish within a few seconds when Redis is down, so the API can answer 503 quickly.
        broker_connection_timeout=2.0,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        broker_transport_options={"visibility_timeout": 6 * 3600},
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
    )
    return app


celery_app = make_celery(get_settings())
