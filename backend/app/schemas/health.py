"""Health report schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ComponentHealth(BaseModel):
    ok: bool
    detail: str
    latency_ms: float


class GpuRead(BaseModel):
    index: int
    name: str
    memory_mib: int


class WorkerNode(BaseModel):
    """One worker: the queues it consumes, and its GPUs (one job at a time on each)."""

    name: str
    queues: list[str]
    concurrency: int | None
    gpus: list[GpuRead]


class WorkerHealth(ComponentHealth):
    workers: list[str]
    queues: dict[str, list[str]]
    nodes: list[WorkerNode] = []


class HealthRead(BaseModel):
    status: Literal["ok", "degraded", "down"]
    version: str
    database: ComponentHealth
    postgis: ComponentHealth
    redis: ComponentHealth
    workers: WorkerHealth
