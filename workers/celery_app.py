"""The worker side of the Celery app: the shared configuration (app.core.queue) plus the tasks, the
reaper's beat schedule, and what each worker process does when it starts.

Start a worker with ``minelabel worker --queues cpu`` (or ``gpu``), and one beat per installation with
``minelabel beat``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready
from celery.worker.control import inspect_command

from app.core.config import get_settings
from app.core.queue import make_celery
from app.jobs import scratch
from app.jobs.gpus import GpuInfo, list_gpus
from workers.db import session_factory

logger = logging.getLogger(__name__)

TASK_MODULES = [
    "workers.tasks.probe",
    "workers.tasks.imagery",
    "workers.tasks.exports",
    "workers.tasks.reaper",
    "workers.tasks.sam",
    "workers.tasks.training",
]
REAP_TASK = "minelabel.reap"


def make_worker_app() -> Celery:
    settings = get_settings()
    app = make_celery(settings, include=TASK_MODULES)
    app.conf.beat_schedule = {
        "reap-dead-jobs": {
            "task": REAP_TASK,
            "schedule": settings.jobs.reap_interval_s,
            "options": {"queue": "cpu", "expires": settings.jobs.reap_interval_s},
        },
    }
    return app


celery_app = make_worker_app()
_GPUS: list[GpuInfo] = []
# What the check of the SAM checkpoint found ({"ok", "detail", ...}); None until it has run.
_SAM: dict[str, Any] | None = None


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: object) -> None:
    # What attempts on this machine left behind when they were killed (the worker may have been one).
    global _GPUS
    _GPUS = list_gpus()
    try:
        with session_factory()() as session:
            scratch.sweep(session, get_settings().jobs.scratch_dir)
    except Exception:
        logger.warning("could not sweep the scratch folder at start", exc_info=True)
    queues = {q.name for q in sender.app.amqp.queues.consume_from.values()} if sender is not None else set()
    if "gpu" in queues and get_settings().sam.checkpoint is not None:
        threading.Thread(target=_check_sam, name="sam-check", daemon=True).start()


def _check_sam() -> None:
    """Load the checkpoint in a process of its own (this one never imports torch) and keep its verdict."""
    global _SAM
    done = subprocess.run(
        [sys.executable, "-m", "workers.ml.sam.check"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    try:
        _SAM = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        _SAM = {"ok": False, "detail": f"SAM's check failed: {done.stderr.strip()[-500:]}"}
    if _SAM.get("ok"):
        logger.info("%s", _SAM["detail"])
    else:
        logger.error("%s", _SAM["detail"])


@worker_process_init.connect
def _pin_gpu(**_: object) -> None:
    # One job at a time per GPU: pool process i uses GPU i (the main process never touches CUDA).
    from billiard.process import current_process

    # With TRAIN__DEVICES = d, pool process i has GPUs i*d ... i*d+d-1 (a torchrun training uses them all).
    index = getattr(current_process(), "index", None)
    if index is not None and "CUDA_VISIBLE_DEVICES" not in os.environ and list_gpus():
        per_process = get_settings().train.devices
        first = index * per_process
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + i) for i in range(per_process))


@inspect_command(name="minelabel_info")
def minelabel_info(state: Any) -> dict[str, Any]:
    """What /api/health shows of this worker: its GPUs (read once at start) and its pool size."""
    pool = getattr(state.consumer, "pool", None)
    return {
        "gpus": [gpu.as_dict() for gpu in _GPUS],
        "concurrency": getattr(pool, "num_processes", None),
        "sam": _SAM,
    }
