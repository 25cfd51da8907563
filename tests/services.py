"""Throw-away PostgreSQL + PostGIS, Redis and Celery workers for the test session.

They run from the same code as `make run` (app.devstack), in a temporary folder, on free ports.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_shared_tmpdir(prefix: str) -> Path:
    """A temporary folder the ``postgres`` user can enter (mkdtemp makes it 0700 for root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@dataclass
class RunningServices:
    root: Path
    postgres: LocalPostgres
    redis: LocalRedis

    def db_url(self, database: str) -> str:
        return self.postgres.url(database)


@contextmanager
def running_services() -> Iterator[RunningServices]:
    root = make_shared_tmpdir("minelabel-test-")
    postgres = LocalPostgres(root / "postgres", free_port())
    redis = LocalRedis(root / "redis", free_port(), persistent=False)
    postgres.initialise()
    postgres.start()
    try:
        postgres.wait_ready()
        redis.start()
        try:
            yield RunningServices(root=root, postgres=postgres, redis=redis)
        finally:
            redis.stop()
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


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
