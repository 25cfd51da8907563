"""The command lines of MineLabel's long-running processes (worker, beat, API), in one place: the CLI
execs them, `make run`'s supervisor and the tests spawn them."""

from __future__ import annotations

import sys

from app.core.config import Settings

CELERY_APP = "workers.celery_app:celery_app"


def worker_command(queues: str, concurrency: int, log_level: str, name: str | None = None) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--loglevel",
        log_level,
    ]
    if name:
        argv += ["-n", name]
    return argv


def beat_command(settings: Settings) -> list[str]:
    schedule = settings.jobs.beat_schedule_file
    schedule.parent.mkdir(parents=True, exist_ok=True)
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "beat",
        "--loglevel",
        settings.log_level,
        "--schedule",
        str(schedule),
    ]


def api_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--host",
        settings.api_host,
        "--port",
        str(settings.api_port),
        "--no-access-log",
        "--no-proxy-headers",  # the app trusts SECURITY__TRUSTED_PROXIES only (app.main)
    ]
