"""Job I/O schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.job import JobQueue, JobState


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    queue: JobQueue
    state: JobState
    progress: float = Field(description="Fraction done, 0 to 1.")
    message: str = Field(description="What the job is doing now, for a progress display.")
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobRead]
    total: int


class ProbeJobCreate(BaseModel):
    """A health probe: proves that the API, Redis, a worker and PostGIS talk to each other."""

    model_config = ConfigDict(extra="forbid")

    queue: JobQueue = Field(default=JobQueue.CPU, description="Which worker queue should run the probe.")
    steps: int = Field(default=3, ge=1, le=20, description="Progress steps to report.")
    step_seconds: float = Field(default=0.0, ge=0, le=5, description="Pause between steps.")
    fail_with: str | None = Field(
        default=None,
        max_length=500,
        description="Make the probe fail with this message (checks failure reporting).",
    )


JobStateFilter = Literal["queued", "running", "succeeded", "failed"]
