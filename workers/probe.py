"""The health probe job: proves that a worker on a given queue reaches PostGIS and reports progress."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from sqlalchemy import text

from workers.runtime import JobContext


class ProbeFailedError(RuntimeError):
    """Raised when a probe was asked to fail (to check that failures are reported)."""


def run_probe(ctx: JobContext) -> dict[str, Any]:
    params = ctx.job.params
    steps = int(params.get("steps", 3))
    step_seconds = float(params.get("step_seconds", 0.0))
    for step in range(1, steps + 1):
        time.sleep(step_seconds)
        ctx.progress(step / steps, f"step {step} of {steps}")
    fail_with = params.get("fail_with")
    if fail_with:
        raise ProbeFailedError(str(fail_with))
    postgis = ctx.session.scalar(text("SELECT postgis_lib_version()"))
    return {
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "queue": ctx.job.queue.value,
        "postgis_version": postgis,
    }
