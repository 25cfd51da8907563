"""Health report schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ComponentHealth(BaseModel):
    ok: bool
    detail: str
    latency_ms: float


class WorkerHealth(ComponentHealth):
    workers: list[str]
    queues: dict[str, list[str]]


class HealthRead(BaseModel):
    status: Literal["ok", "degraded", "down"]
    version: str
    database: ComponentHealth
    postgis: ComponentHealth
    redis: ComponentHealth
    workers: WorkerHealth
