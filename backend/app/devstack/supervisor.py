"""`minelabel dev`: run PostGIS, Redis, migrations, the first admin, a worker and the API; Ctrl+C stops them.

It stops what it started and only that: a PostgreSQL or Redis that was already running in the data
folder (say, left by a run that was killed) is reused and left running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from types import FrameType

from app.core.config import Settings
from app.devstack.postgres import LocalPostgres
from app.devstack.redis import LocalRedis
from app.services.bootstrap import describe_created_admin, initialise_database

logger = logging.getLogger(__name__)


@dataclass
class DevStack:
    settings: Settings
    postgres: LocalPostgres = field(init=False)
    redis: LocalRedis = field(init=False)
    _children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list, init=False)
    _stop_postgres: bool = field(default=False, init=False)
    _stop_requested: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        dev = self.settings.dev
        self.postgres = LocalPostgres(dev.data_dir / "postgres", dev.pg_port)
        self.redis = LocalRedis(dev.data_dir / "redis", dev.redis_port, persistent=True)

    @property
    def db_url(self) -> str:
        return self.postgres.url(self.settings.dev.database)

    def child_env(self) -> dict[str, str]:
        """The environment of the worker and API: the caller's, pointed at our own services."""
        env = dict(os.environ)
        env.update(
            {
                "DB__URL": self.db_url,
                "REDIS__URL": self.redis.url,
                "STORAGE__DATA_DIR": str(self.settings.storage.data_dir),
            }
        )
        return env

    def start_services(self) -> None:
        if self.postgres.initialise():
            logger.info("created a PostgreSQL cluster in %s", self.postgres.cluster_dir)
        if self.postgres.is_running():
            logger.info("PostgreSQL already runs in %s; reusing it", self.postgres.cluster_dir)
        else:
            self.postgres.start()
            self._stop_postgres = True
        self.postgres.wait_ready()
        self.postgres.ensure_database(self.settings.dev.database)
        if self.redis.answers():
            logger.info("a Redis already answers on port %d; reusing it", self.redis.port)
        else:
            self.redis.start()

    def prepare_database(self) -> None:
        created = initialise_database(self.db_url, self.settings.admin)
        if created is not None:
            # Shown once to the operator, on purpose not through the logs.
            print(describe_created_admin(created), flush=True)  # noqa: T201

    def _spawn(self, name: str, args: list[str]) -> None:
        process = subprocess.Popen(args, env=self.child_env(), start_new_session=True)
        self._children.append((name, process))

    def start_processes(self) -> None:
        settings = self.settings
        self._spawn(
            "worker",
            [
                sys.executable, "-m", "celery", "-A", "workers.celery_app:celery_app", "worker",
                "-Q", "cpu,gpu", "--concurrency", str(settings.dev.worker_concurrency),
                "--loglevel", settings.log_level, "-n", "minelabel-dev@%h",
            ],
        )  # fmt: skip
        self._spawn(
            "api",
            [
                sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
                "--host", settings.api_host, "--port", str(settings.api_port), "--no-access-log",
            ],
        )  # fmt: skip

    def wait_for_api(self, timeout_s: float = 60.0) -> None:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/api/health/live"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self._children:
                if process.poll() is not None:
                    raise RuntimeError(f"the {name} process exited with code {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the API did not answer at {url} within {timeout_s:.0f} s")

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        self._stop_requested = True

    def supervise(self) -> int:
        """Wait until Ctrl+C/SIGTERM (exit 0) or until a child dies (exit 1)."""
        while not self._stop_requested:
            for name, process in self._children:
                if process.poll() is not None:
                    logger.error("the %s process exited with code %s; stopping", name, process.returncode)
                    return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        for name, process in reversed(self._children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    logger.warning("the %s process did not stop in 20 s; killing it", name)
                    process.kill()
                    process.wait()
        self._children.clear()
        self.redis.stop()
        if self._stop_postgres:
            self.postgres.stop()
            self._stop_postgres = False


def run_dev_stack(settings: Settings) -> int:
    stack = DevStack(settings)
    signal.signal(signal.SIGINT, stack.request_stop)
    signal.signal(signal.SIGTERM, stack.request_stop)
    try:
        stack.start_services()
        stack.prepare_database()
        stack.start_processes()
        stack.wait_for_api()
        print(  # noqa: T201
            f"\n  MineLabel runs at http://{settings.api_host}:{settings.api_port}/  "
            f"(API docs: /docs, health: /api/health). Ctrl+C stops it.\n",
            flush=True,
        )
        return stack.supervise()
    finally:
        stack.stop()
        logger.info("stopped")
