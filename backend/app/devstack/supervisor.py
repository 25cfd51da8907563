"""`minelabel dev`: run PostGIS, Redis, migrations, the first admin, a worker, beat (the reaper of dead
jobs) and the API; Ctrl+C stops them.

A process that dies is started again after a pause that doubles each time (up to MAX_BACKOFF_S; a
process that ran for STABLE_AFTER_S counts as healthy again), so a crashed worker never takes the whole
stack down. It stops what it started and only that: a PostgreSQL or Redis that was already running in
the data folder (say, left by a run that was killed) is reused and left running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from types import FrameType

from app.core.config import Settings
from app.devstack.postgres import LocalPostgres
from app.devstack.processes import api_command, beat_command, worker_command
from app.devstack.redis import LocalRedis
from app.services.bootstrap import describe_created_admin, initialise_database

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0


@dataclass
class Child:
    """A supervised process: how to start it, and when to start it again after it died."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None
    restarts: int = 0


@dataclass
class DevStack:
    settings: Settings
    postgres: LocalPostgres = field(init=False)
    redis: LocalRedis = field(init=False)
    _children: list[Child] = field(default_factory=list, init=False)
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

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.child_env(), start_new_session=True)
        child.started_at = time.monotonic()
        child.restart_at = None

    def start_processes(self) -> None:
        settings = self.settings
        concurrency = settings.dev.worker_concurrency
        self._children = [
            Child("worker", worker_command("cpu,gpu", concurrency, settings.log_level, "minelabel-dev@%h")),
            Child("beat", beat_command(settings)),
            Child("api", api_command(settings)),
        ]
        for child in self._children:
            self._start(child)

    def wait_for_api(self, timeout_s: float = 60.0) -> None:
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/api/health/live"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for child in self._children:
                if child.process is not None and child.process.poll() is not None:
                    raise RuntimeError(
                        f"the {child.name} process exited with code {child.process.returncode}"
                    )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the API did not answer at {url} within {timeout_s:.0f} s")

    def tend(self) -> None:
        """Start again, after its backoff, each process that died."""
        now = time.monotonic()
        for child in self._children:
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    child.restarts += 1
                    logger.warning("starting the %s process again (restart %d)", child.name, child.restarts)
                    self._start(child)
                continue
            code = child.process.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff_s = FIRST_BACKOFF_S
                continue
            logger.error(
                "the %s process exited with code %s; starting it again in %.0f s",
                child.name,
                code,
                child.backoff_s,
            )
            child.process = None
            child.restart_at = now + child.backoff_s
            child.backoff_s = min(child.backoff_s * 2, MAX_BACKOFF_S)

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        self._stop_requested = True

    def supervise(self) -> int:
        """Keep the processes running until Ctrl+C/SIGTERM (then exit 0)."""
        while not self._stop_requested:
            self.tend()
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        for child in reversed(self._children):
            process = child.process
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    logger.warning("the %s process did not stop in 20 s; killing it", child.name)
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
