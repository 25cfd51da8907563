"""Throw-away PostgreSQL + PostGIS and Redis in a temporary folder on free ports (tests, benchmarks)."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis


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
def running_services(
    prefix: str = "minelabel-test-", *, persistent_redis: bool = False
) -> Iterator[RunningServices]:
    """Args:
    persistent_redis: keep Redis' data on disk (append-only file), so that it survives a restart.
    """
    root = make_shared_tmpdir(prefix)
    postgres = LocalPostgres(root / "postgres", free_port())
    redis = LocalRedis(root / "redis", free_port(), persistent=persistent_redis)
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
