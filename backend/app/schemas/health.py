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
    """One worker: the queues it consumes, its GPUs (one job at a time on each), and, for a worker of the gpu
    queue, what it found when it loaded the SAM checkpoint (None: not checked, or not yet)."""

    name: str
    queues: list[str]
    concurrency: int | None
    gpus: list[GpuRead]
    sam: dict[str, str | bool] | None = None


class SamHealth(BaseModel):
    """SAM is optional: its absence never degrades the status, but says how to set it up."""

    configured: bool
    ok: bool
    detail: str


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
    sam: SamHealth
