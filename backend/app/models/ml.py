"""Datasets (frozen snapshots of a project's ground truth, cut into chips) and model versions (one training
run each, with its metrics; one of a project's is its champion). docs/adr/2026-12-01-retraining-plain-
pytorch-in-a-subprocess.md says how they are made and compared."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum


class DatasetState(enum.StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class ModelState(enum.StrEnum):
    QUEUED = "queued"
    TRAINING = "training"
    TRAINED = "trained"  # a candidate, or the champion
    FAILED = "failed"
    CANCELLED = "cancelled"


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    state: Mapped[DatasetState] = mapped_column(
        str_enum(DatasetState, "dataset_state"), default=DatasetState.BUILDING
    )
    # The dataset job's parameters (app.schemas.ml.DatasetParams); once ready, its manifest's key and hash.
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    manifest_key: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    band_count: Mapped[int | None]
    # Chips and sites per split: {"train": {"chips": n, "sites": n}, "val": ..., "test": ...}.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        # At most one champion per project.
        Index("uq_model_versions_champion", "project_id", unique=True, postgresql_where=text("is_champion")),
        Index("uq_model_versions_number", "project_id", "number", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # 1, 2, 3 ... per project; the name is unet-v<number>
    name: Mapped[str] = mapped_column(String(200))
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    # The champion when this one was trained (its weights start this one when warm_start is asked for).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    state: Mapped[ModelState] = mapped_column(str_enum(ModelState, "model_state"), default=ModelState.QUEUED)
    # The training settings (app.schemas.ml.TrainParams) and the code that ran them.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    code_version: Mapped[str] = mapped_column(String(100), default="")
    classes: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    in_channels: Mapped[int | None]
    # Per-band normalisation the model was trained with (the dataset's), for inference.
    normalisation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # app.schemas.ml.ModelMetrics: per-class scores on validation and on the test sites.
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # One entry per epoch: {"epoch", "loss", "val_loss", "val_iou": {class: iou}}.
    curve: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    checkpoint_key: Mapped[str | None] = mapped_column(String(500))
    onnx_key: Mapped[str | None] = mapped_column(String(500))
    is_champion: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    promotion: Mapped[str | None]  # why it was (or was not) promoted
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
