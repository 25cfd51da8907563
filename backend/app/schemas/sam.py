"""Segment Anything I/O: the embedding manifest a GPU worker writes, the decoder it exports, prompts and their
polygons, and SAM's job parameters and results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.ml.sam_windows import Window, WindowKind
from app.schemas.base import RequestModel
from app.schemas.job_base import JobParams, JobResult

MANIFEST_VERSION = 1


class SamWindowRead(BaseModel):
    """One embedded window: where it lies in the image (source pixels) and its embedding's storage key."""

    index: int
    kind: WindowKind
    x: int
    y: int
    width: int
    height: int
    scale: float = Field(description="SAM input pixels per source pixel.")
    key: str
    hover_key: str | None = Field(
        default=None,
        description="Its hover map (the masks of a point grid; app/ml/sam_hover.py), where one was made.",
    )

    def window(self) -> Window:
        return Window(self.index, self.kind, self.x, self.y, self.width, self.height)


class EmbeddingManifest(BaseModel):
    """What a set of embeddings of one observation was made from, so that a change makes it stale."""

    version: int = MANIFEST_VERSION
    observation_id: uuid.UUID
    checkpoint_hash: str
    model_type: str
    zoom: float
    overlap_px: int
    indexes: list[int] = Field(description="The bands shown (the display preset's), 1-based.")
    ranges: list[list[float]] | None = Field(description="Per band, the stretch mapped to 0..255.")
    mode: str = Field(default="bands", description="How they were drawn: bands, hillshade or elevation.")
    image_width: int
    image_height: int
    embedding_shape: list[int] = [256, 64, 64]
    dtype: Literal["float16"] = "float16"
    windows: list[SamWindowRead]
    hover_points_per_side: int = Field(default=0, description="The hover maps' grid (0: no hover maps).")
    created_at: datetime


class DecoderRead(BaseModel):
    """The current checkpoint's exported decoder (storage ``sam/current.json``)."""

    checkpoint_hash: str
    model_type: str
    decoder_key: str
    size_bytes: int
    exported_at: datetime
    opset: int


class SamStatus(BaseModel):
    ready: bool
    detail: str
    checkpoint_hash: str | None = None
    model_type: str | None = None


# --- prompts ---------------------------------------------------------------------------------------


class SamPoint(RequestModel):
    x: float = Field(description="Column, in the image's pixels.")
    y: float = Field(description="Row, in the image's pixels.")
    positive: bool = Field(default=True, description="False: a point that is not part of the object.")


class SamPrompt(RequestModel):
    points: list[SamPoint] = Field(default_factory=list, max_length=64)
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="x0, y0, x1, y1 in the image's pixels."
    )
    mask_input: dict[str, Any] | None = Field(
        default=None, description="The previous result (GeoJSON polygon, image pixels), to refine it."
    )
    simplify_px: float | None = Field(default=None, ge=0, le=50, description="Default SAM__SIMPLIFY_PX.")
    min_area_px: float | None = Field(default=None, ge=0, description="Default SAM__MIN_AREA_PX.")
    largest_only: bool = Field(default=False, description="Keep only the largest part.")

    @model_validator(mode="after")
    def _something_to_segment(self) -> SamPrompt:
        if not self.points and self.box is None:
            raise ValueError("a prompt needs at least one point or a box")
        if self.points and not any(p.positive for p in self.points) and self.box is None:
            raise ValueError("negative points alone select nothing: add a positive point or a box")
        if self.box is not None and (self.box[2] <= self.box[0] or self.box[3] <= self.box[1]):
            raise ValueError("box must be x0, y0, x1, y1 with x1 > x0 and y1 > y0")
        return self


class SamPolygon(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon in the image's pixel coordinates.")
    area_px: float


class SamAnswer(BaseModel):
    polygons: list[SamPolygon]
    score: float = Field(description="SAM's predicted IoU of the mask.")
    window_index: int
    window_kind: WindowKind
    checkpoint_hash: str
    decode_ms: float


# --- jobs ------------------------------------------------------------------------------------------


class SamEmbedParams(JobParams):
    observation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
    force: bool = Field(default=False, description="Encode again even where embeddings are current.")


class SamEmbedResult(JobResult):
    encoded: int
    skipped: int
    windows: int
    checkpoint_hash: str


class SamPrelabelParams(JobParams):
    observation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
    points_per_side: int | None = Field(default=None, ge=1, le=64)
    pred_iou_thresh: float | None = Field(default=None, ge=0, le=1)
    stability_score_thresh: float | None = Field(default=None, ge=0, le=1)


class SamPrelabelResult(JobResult):
    observations: int
    skipped: int
    predictions: int
    regions: int
    model_version: str


class SamCarryForwardParams(JobParams):
    observation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)


class SamCarryForwardResult(JobResult):
    observations: int
    skipped: int = Field(description="Observations whose previous date is not approved, or carried already.")
    regions: int
    vanished: int = Field(description="Previous regions SAM found nothing for on the next date.")
    model_version: str
