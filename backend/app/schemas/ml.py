"""Retraining I/O: dataset manifests, training and prediction job parameters and results, model versions and
their metrics (docs/adr/2026-12-01-retraining-plain-pytorch-in-a-subprocess.md)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.models.ml import DatasetState, ModelState
from app.schemas.base import RequestModel
from app.schemas.job_base import JobParams, JobResult

Split = Literal["train", "val", "test"]


# --- datasets --------------------------------------------------------------------------------------


class TrainOptions(RequestModel):
    """How to train a model (defaults fit a GPU; tests and CPUs ask for less)."""

    model_config = ConfigDict(frozen=True)

    epochs: int = Field(default=20, ge=1, le=1000)
    batch_size: int = Field(default=8, ge=1, le=512)
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    encoder: str = Field(
        default="resnet34", max_length=100, description="A segmentation-models-pytorch encoder."
    )
    encoder_depth: int = Field(default=5, ge=3, le=5)
    warm_start: bool = Field(
        default=False, description="Start from the champion's weights (same bands, classes)."
    )
    seed: int = Field(default=0, ge=0)


class DatasetParams(JobParams):
    chip_size: int = Field(default=512, ge=32, le=4096)
    stride: int = Field(default=448, ge=16, le=4096)
    val_fraction: float = Field(default=0.2, ge=0, lt=1, description="Of the non-test sites, for validation.")
    test_fraction: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Of the sites, frozen as test sites the first time (never again).",
    )
    seed: int = Field(default=0, ge=0)
    then_train: TrainOptions | None = Field(default=None, description="Train a model on it when it is ready.")

    @model_validator(mode="after")
    def _stride_within_chip(self) -> DatasetParams:
        if self.stride > self.chip_size:
            raise ValueError(f"stride ({self.stride}) > chip_size ({self.chip_size}) would skip pixels")
        return self


class SplitSummary(BaseModel):
    chips: int
    sites: int
    observations: int


class DatasetResult(JobResult):
    dataset_id: uuid.UUID
    content_hash: str
    splits: dict[str, SplitSummary]
    train_job_id: uuid.UUID | None = None


class BandStats(BaseModel):
    mean: list[float]
    std: list[float]


class ChipEntry(BaseModel):
    key: str
    split: Split
    site_id: uuid.UUID
    observation_id: uuid.UUID
    x: int
    y: int
    size: int
    sha256: str


class DatasetManifest(BaseModel):
    """What a dataset holds, exactly as training reads it."""

    version: int = 1
    dataset_id: uuid.UUID
    project_id: uuid.UUID
    classes: list[str] = Field(
        description="Mask channel i is classes[i] (multi-label: a pixel may be several)."
    )
    band_count: int
    band_names: list[str]
    chip_size: int
    stride: int
    normalisation: BandStats = Field(description="Per band over the training chips' valid pixels.")
    chips: list[ChipEntry]
    content_hash: str = Field(description="SHA-256 over the chips' own hashes, in order.")
    created_at: datetime


class DatasetRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID | None
    state: DatasetState
    content_hash: str | None
    classes: list[str]
    band_count: int | None
    summary: dict[str, SplitSummary]
    error: str | None
    created_at: datetime


# --- models ----------------------------------------------------------------------------------------


class ClassScore(BaseModel):
    label: str
    iou: float | None
    f1: float | None
    precision: float | None
    recall: float | None


class SplitMetrics(BaseModel):
    mean_iou: float | None
    per_class: list[ClassScore]


class ModelMetrics(BaseModel):
    val: SplitMetrics | None = None
    test: SplitMetrics | None = None
    # The champion's scores on the same test chips, when there was one to compare with.
    champion_test: SplitMetrics | None = None


class CurvePoint(BaseModel):
    epoch: int
    loss: float
    val_loss: float | None = None
    val_iou: dict[str, float | None] = Field(default_factory=dict)
    seconds: float | None = None


class TrainParams(JobParams):
    model_version_id: uuid.UUID
    dataset_id: uuid.UUID
    options: TrainOptions = TrainOptions()


class TrainResult(JobResult):
    model_version_id: uuid.UUID
    epochs: int
    test: SplitMetrics | None
    promoted: bool
    promotion: str


class ModelVersionRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    number: int
    name: str
    dataset_id: uuid.UUID | None
    dataset_hash: str | None = Field(description="The content hash of the dataset it trained on.")
    parent_id: uuid.UUID | None = Field(description="The champion when it was trained.")
    job_id: uuid.UUID | None
    state: ModelState
    settings: TrainOptions
    code_version: str
    classes: list[str]
    in_channels: int | None
    metrics: ModelMetrics | None
    curve: list[CurvePoint]
    has_checkpoint: bool
    has_onnx: bool
    is_champion: bool
    promotion: str | None
    promoted_at: datetime | None
    error: str | None
    created_at: datetime


class PredictParams(JobParams):
    model_version_id: uuid.UUID
    observation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
    threshold: float = Field(default=0.5, gt=0, lt=1)


class PredictResult(JobResult):
    model_version: str
    observations: int
    skipped: int
    regions: int
    km2: float = Field(description="Area predicted over, in km² (pixels where not georeferenced: 0).")


# --- requests --------------------------------------------------------------------------------------


class TrainNowRequest(RequestModel):
    """Freeze a dataset of the approved tasks now and train on it."""

    dataset: DatasetParams = DatasetParams()
    options: TrainOptions = TrainOptions()


class PredictRequest(RequestModel):
    model_version_id: uuid.UUID | None = Field(default=None, description="Default: the project's champion.")
    observation_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100_000)
    site_id: uuid.UUID | None = None
    date_from: date | None = None
    date_to: date | None = None
    unlabeled_only: bool = Field(default=True, description="Only tasks nobody has started (state new).")
    threshold: float = Field(default=0.5, gt=0, lt=1)
