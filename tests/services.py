"""Throw-away PostgreSQL + PostGIS, Redis and Celery workers for the test session.

They run from the same code as `make run` (app.devstack), in a temporary folder, on free ports.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from app.devstack.throwaway import RunningServices, free_port, make_shared_tmpdir, running_services

REPO_ROOT = Path(__file__).resolve().parents[1]


def service_env(db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DB__URL": db_url, "REDIS__URL": redis_url, **extra})
    return env


@contextmanager
def celery_worker(env: dict[str, str], celery: Celery, name: str, queues: str = "cpu,gpu") -> Iterator[str]:
    """A real worker process (prefork, like production); yields its node name once it answers."""
    node = f"{name}@{socket.gethostname()}"
    log = (Path(tempfile.gettempdir()) / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker",
            "-Q", queues, "--concurrency", "1", "--loglevel", "INFO", "-n", node, "--without-gossip",
            "--without-mingle",
        ],
        env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (celery.control.inspect(destination=[node], timeout=0.5).ping() or {}):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker {node} did not start; see {log.name}")
        yield node
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


__all__ = [
    "RunningServices",
    "celery_worker",
    "free_port",
    "make_shared_tmpdir",
    "running_services",
    "service_env",
]
