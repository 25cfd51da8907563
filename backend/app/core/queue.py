"""The one Celery client: the app's configuration (shared with the workers), the one way to hand a job to
the broker, and a look at what the broker holds (so the reaper can resend a message Redis lost).

The API only sends messages; the worker side (workers/celery_app.py) builds on the same configuration and
registers the tasks. Task names are strings, so nothing here imports workers/.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import redis
from celery import Celery
from kombu import Queue

from app.core.config import Settings
from app.models.job import Job, JobQueue

logger = logging.getLogger(__name__)

# The kombu Redis transport keeps messages that a worker holds but has not acknowledged in this hash.
_UNACKED_KEY = "unacked"


def make_celery(settings: Settings, *, include: Iterable[str] = ()) -> Celery:
    """A Celery app configured from ``settings``; the API makes one to send, the worker one to run."""
    app = Celery("minelabel", broker=settings.redis.url, include=list(include))
    app.conf.update(
        task_queues=[Queue(q.value) for q in JobQueue],
        task_default_queue=JobQueue.CPU.value,
        # A task is acknowledged when it is done and requeued when its worker dies mid-way. The job's
        # lease (app.services.jobs) makes a second delivery harmless, whenever it comes.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One job at a time per pool process: a GPU worker must never hold a second job it cannot start.
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Job state lives in PostGIS; a result backend would be a second, weaker record.
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back, however long
        # Fail a publish within a few seconds when Redis is down, so the API can answer 503 quickly.
        broker_connection_timeout=2.0,
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        # Only a backstop now (the lease and the reaper find dead jobs); see the job lifetimes ADR.
        broker_transport_options={"visibility_timeout": 6 * 3600},
        # A running job goes on when the broker connection drops; its lease keeps it single.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
    )
    return app


def enqueue(celery: Celery, task_name: str, job: Job) -> None:
    """Send the message that wakes a worker for ``job`` (whose row is committed). The message's id is the
    job's id, so that the broker can be asked whether it still holds it."""
    celery.send_task(task_name, args=[str(job.id)], queue=job.queue.value, task_id=str(job.id))


def job_ids_in_broker(settings: Settings) -> set[str] | None:
    """The job ids of every message Redis holds: waiting in a queue or held unacknowledged by a worker.

    None when Redis cannot be read (the caller then resends nothing)."""
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=5, socket_connect_timeout=5)
    try:
        messages: list[object] = []
        for queue in JobQueue:
            messages.extend(_loads(item) for item in client.lrange(queue.value, 0, -1))
        # Each unacknowledged entry is [message, exchange, routing key].
        for item in client.hvals(_UNACKED_KEY):
            entry = _loads(item)
            messages.append(entry[0] if isinstance(entry, list) and entry else None)
        return {task_id for message in messages if (task_id := _message_id(message))}
    except redis.RedisError:
        logger.warning("could not read the broker's queues; resending nothing this round", exc_info=True)
        return None
    finally:
        client.close()


def _loads(raw: bytes | str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _message_id(message: object) -> str | None:
    if not isinstance(message, dict):
        return None
    headers = message.get("headers")
    task_id = headers.get("id") if isinstance(headers, dict) else None
    return str(task_id) if task_id else None
