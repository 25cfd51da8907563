"""Throw-away PostgreSQL + PostGIS, Redis and Celery workers for the test session.

They run from the same code as `make run` (app.devstack), in a temporary folder, on free ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from celery import Celery

from app.devstack.processes import worker_command
from app.devstack.throwaway import RunningServices, free_port, make_shared_tmpdir, running_services

REPO_ROOT = Path(__file__).resolve().parents[1]


def service_env(db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DB__URL": db_url, "REDIS__URL": redis_url, **extra})
    return env


class WorkerProcess:
    """A real worker process (prefork, like production) in a process group of its own, so that a test can
    kill it whole (kill -9, as an operator's crash would)."""

    def __init__(
        self, env: dict[str, str], celery: Celery, name: str, queues: str = "cpu,gpu", concurrency: int = 1
    ) -> None:
        self.node = f"{name}@{socket.gethostname()}"
        self.log_path = Path(tempfile.gettempdir()) / f"{name}.log"
        self._log = self.log_path.open("wb")
        quiet = ["--without-gossip", "--without-mingle"]
        argv = [*worker_command(queues, concurrency, "INFO", self.node), *quiet]
        self.process = subprocess.Popen(
            argv, env=env, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not self._answers(celery):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"celery worker {self.node} did not start; see {self.log_path}")

    def _answers(self, celery: Celery) -> bool:
        try:
            return bool(celery.control.inspect(destination=[self.node], timeout=0.5).ping())
        except (OSError, redis.RedisError):
            return False  # a pooled broker connection that a Redis restart broke; the next one is new

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9 of the worker and its pool processes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # pool processes left behind
        self._log.close()


@contextmanager
def celery_worker(env: dict[str, str], celery: Celery, name: str, queues: str = "cpu,gpu") -> Iterator[str]:
    """A real worker process; yields its node name once it answers."""
    worker = WorkerProcess(env, celery, name, queues)
    try:
        yield worker.node
    finally:
        worker.stop()


__all__ = [
    "RunningServices",
    "WorkerProcess",
    "celery_worker",
    "free_port",
    "make_shared_tmpdir",
    "running_services",
    "service_env",
]
