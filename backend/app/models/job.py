"""Background jobs: the row in PostGIS is the truth about a job's state, never Redis.

A running job is held by one attempt at a time through its lease (``lease_token`` + ``heartbeat_at``);
docs/adr/2026-12-01-job-lifetimes-lease-heartbeat-reaper.md says how leases, attempts and cancel work.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Enum, Float, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobQueue(enum.StrEnum):
    CPU = "cpu"
    GPU = "gpu"


class JobKind(enum.StrEnum):
    """Every kind of job; app.jobs.kinds gives each its queue, task, parameter and result models."""

    PROBE = "probe"
    INGEST = "ingest"
    RENDER = "render"
    GEOREFERENCE = "georeference"  # an observation's COG again, after a georeferencing correction
    EXPORT = "export"
    SAM_EMBED = "sam_embed"
    SAM_PRELABEL = "sam_prelabel"
    SAM_CARRY_FORWARD = "sam_carry_forward"
    DATASET = "dataset"
    TRAIN = "train"
    PREDICT = "predict"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        Index("ix_jobs_state_queue", "state", "queue"),
        Index("ix_jobs_created_at", "created_at"),
        Index("ix_jobs_project_created", "project_id", "created_at"),
        # The reaper's question: which running jobs stopped renewing their lease?
        Index("ix_jobs_running_heartbeat", "heartbeat_at", postgresql_where=text("state = 'running'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored as text (not a PostgreSQL enum), so that a new kind needs no migration.
    kind: Mapped[JobKind] = mapped_column(
        Enum(
            JobKind,
            native_enum=False,
            length=64,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
            create_constraint=False,
        )
    )
    queue: Mapped[JobQueue] = mapped_column(str_enum(JobQueue, "job_queue"))
    # The project whose data the job works on; None for site-wide jobs (the health probe).
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    state: Mapped[JobState] = mapped_column(
        str_enum(JobState, "job_state"),
        default=JobState.QUEUED,
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    # Validated by the kind's parameter model on submit and again by the worker (app.jobs.kinds).
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    # One entry per attempt: {"attempt", "host", "started_at", "ended_at", "outcome", "reason"}.
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    # The lease of the attempt that runs the job now (None unless running).
    lease_token: Mapped[uuid.UUID | None]
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_pid: Mapped[int | None]
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the current (or last) attempt started; progress and ETA are measured from it.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
