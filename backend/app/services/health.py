"""Checks of each component the app depends on, for /api/health."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import redis
from celery import Celery
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.schemas.health import ComponentHealth, GpuRead, HealthRead, SamHealth, WorkerHealth, WorkerNode
from app.services.sam import SETUP_MESSAGE

VERSION = "0.1.0"


def _timed(check: Callable[[], str]) -> ComponentHealth:
    start = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        ok = False
    return ComponentHealth(ok=ok, detail=detail, latency_ms=round((time.perf_counter() - start) * 1000, 2))


def check_database(session: Session) -> ComponentHealth:
    return _timed(lambda: str(session.scalar(text("SELECT version()"))))


def check_postgis(session: Session) -> ComponentHealth:
    def postgis() -> str:
        try:
            return str(session.scalar(text("SELECT postgis_full_version()")))
        except Exception:
            session.rollback()
            raise

    return _timed(postgis)


def check_redis(settings: Settings) -> ComponentHealth:
    def ping() -> str:
        client = redis.Redis.from_url(settings.redis.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            client.ping()
            info = client.info("server")
            return f"redis {info.get('redis_version', '?')}"
        finally:
            client.close()

    return _timed(ping)


def check_workers(celery: Celery, timeout_s: float) -> WorkerHealth:
    queues: dict[str, list[str]] = {}
    nodes: list[WorkerNode] = []

    def inspect() -> str:
        inspector = celery.control.inspect(timeout=timeout_s)
        replies = inspector.active_queues() or {}
        for worker, worker_queues in replies.items():
            for queue in worker_queues:
                queues.setdefault(queue["name"], []).append(worker)
        if not replies:
            raise RuntimeError(f"no worker answered within {timeout_s} s; start one with `minelabel worker`")
        # Asked only of the workers that answered, so that the answer comes as soon as they have replied.
        # The workers' own inspect command (workers/celery_app.py): their GPUs and pool size.
        inspector = celery.control.inspect(timeout=timeout_s, destination=list(replies))
        # (celery-types says _request gives a list; Celery merges the replies into {node: reply}.)
        infos = _ask(lambda: cast("dict[str, Any] | None", inspector._request("minelabel_info")))
        for worker in sorted(replies):
            info = infos.get(worker) or {}
            nodes.append(
                WorkerNode(
                    name=worker,
                    queues=sorted(q["name"] for q in replies[worker]),
                    concurrency=info.get("concurrency"),
                    gpus=[GpuRead.model_validate(gpu) for gpu in info.get("gpus") or []],
                    sam=info.get("sam"),
                )
            )
        return f"{len(replies)} worker(s)"

    base = _timed(inspect)
    workers = sorted({w for ws in queues.values() for w in ws})
    return WorkerHealth(**base.model_dump(), workers=workers, queues=queues, nodes=nodes)


def _ask(call: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    try:
        return call() or {}
    except Exception:
        return {}


def build_report(session: Session, settings: Settings, celery: Celery) -> HealthRead:
    database = check_database(session)
    postgis = (
        check_postgis(session)
        if database.ok
        else ComponentHealth(ok=False, detail="database unreachable", latency_ms=0.0)
    )
    redis_health = check_redis(settings)
    workers = (
        check_workers(celery, settings.worker.ping_timeout_s)
        if redis_health.ok
        else WorkerHealth(
            ok=False, detail="redis unreachable", latency_ms=0.0, workers=[], queues={}, nodes=[]
        )
    )
    if not database.ok:
        status = "down"
    elif postgis.ok and redis_health.ok and workers.ok:
        status = "ok"
    else:
        status = "degraded"
    return HealthRead(
        status=status,
        version=VERSION,
        database=database,
        postgis=postgis,
        redis=redis_health,
        workers=workers,
        sam=check_sam(settings, workers),
    )


def check_sam(settings: Settings, workers: WorkerHealth) -> SamHealth:
    """Configured here, and loaded by the gpu workers (each checks its checkpoint when it starts)."""
    if settings.sam.checkpoint is None:
        return SamHealth(configured=False, ok=False, detail=SETUP_MESSAGE)
    reports = {node.name: node.sam for node in workers.nodes if node.sam is not None}
    broken = {name: str(report["detail"]) for name, report in reports.items() if not report.get("ok")}
    if broken:
        return SamHealth(
            configured=True, ok=False, detail="; ".join(f"{n}: {d}" for n, d in sorted(broken.items()))
        )
    if not reports:
        return SamHealth(
            configured=True,
            ok=False,
            detail="no worker of the gpu queue has reported on the SAM checkpoint yet (start one with "
            "`minelabel worker --queues gpu`; it checks the file when it starts)",
        )
    return SamHealth(
        configured=True, ok=True, detail="; ".join(f"{n}: {r['detail']}" for n, r in sorted(reports.items()))
    )
