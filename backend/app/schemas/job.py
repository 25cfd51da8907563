"""Job I/O: each kind's parameters and result as a model, and the job as the API shows it.

Parameters are validated with the kind's model when a job is submitted (a bad one is a 422 naming the
field, nothing queued) and again when a worker reads the row; results are validated before they are
stored. app.jobs.kinds ties each JobKind to its models.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.interop.exports import ExportOptions
from app.interop.selection import AnnotationChoice, Selection
from app.models.job import JobKind, JobQueue, JobState
from app.models.observation import TaskState
from app.schemas.base import RequestModel
from app.schemas.job_base import JobParams, JobResult
from app.schemas.ml import (
    DatasetParams,
    DatasetResult,
    PredictParams,
    PredictResult,
    TrainParams,
    TrainResult,
)
from app.schemas.sam import (
    SamCarryForwardParams,
    SamCarryForwardResult,
    SamEmbedParams,
    SamEmbedResult,
    SamPrelabelParams,
    SamPrelabelResult,
)

# --- probe ---------------------------------------------------------------------------------------


class ProbeParams(JobParams):
    """A health probe: proves that the API, Redis, a worker and PostGIS talk to each other. Its knobs
    also let an operator (and the fault tests) check what happens to a long job when things die."""

    steps: int = Field(default=3, ge=1, le=1000, description="Progress steps to report.")
    step_seconds: float = Field(default=0.0, ge=0, le=60, description="Pause between steps.")
    fail_with: str | None = Field(
        default=None, max_length=500, description="Fail with this message (checks failure reporting)."
    )
    transient_failures: int = Field(
        default=0, ge=0, le=10, description="Fail this many attempts with a connection error first."
    )
    scratch_bytes: int = Field(
        default=0, ge=0, le=1 << 30, description="Write a file this large into the attempt's scratch folder."
    )


class ProbeJobCreate(ProbeParams):
    queue: JobQueue = Field(default=JobQueue.CPU, description="Which worker queue should run the probe.")
    project_id: uuid.UUID | None = Field(
        default=None, description="Run it as a job of this project (its members then see it)."
    )

    def params(self) -> ProbeParams:
        return ProbeParams.model_validate(self.model_dump(exclude={"queue", "project_id"}))


class ProbeResult(JobResult):
    hostname: str
    pid: int
    queue: JobQueue
    attempt: int
    postgis_version: str


# --- ingest and render ---------------------------------------------------------------------------


class IngestParams(JobParams):
    observation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100_000)
    sam_embed: bool = Field(
        default=False, description="Then queue SAM embeddings of what became ready (SAM is set up)."
    )


class FailedObservation(BaseModel):
    id: uuid.UUID
    filename: str
    error: str


class IngestResult(JobResult):
    ready: int
    failed: list[FailedObservation]
    sam_embed_job_id: uuid.UUID | None = None


class RenderParams(JobParams):
    """Thumbnails again after a change of the project's display preset."""


class RenderResult(JobResult):
    sites: int


class GeoreferenceParams(JobParams):
    """The image of an observation written again with its corrected georeferencing (the row's)."""

    observation_id: uuid.UUID


class GeoreferenceResult(JobResult):
    written: bool = Field(
        description="False when a later correction (or a finished attempt) had superseded this job."
    )
    cog_key: str | None = None


# --- export --------------------------------------------------------------------------------------


class SelectionParams(RequestModel):
    """Which tasks and regions an export takes (app.interop.selection.Selection, as JSON)."""

    model_config = ConfigDict(frozen=True)

    states: list[TaskState] = Field(default_factory=lambda: [TaskState.APPROVED])
    site_ids: list[uuid.UUID] = Field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    classes: list[str] = Field(default_factory=list)
    annotator_ids: list[uuid.UUID] = Field(default_factory=list)
    include_predictions: bool = True
    annotations: AnnotationChoice = "ground_truth"
    model_version: str | None = Field(default=None, max_length=200)

    @classmethod
    def of(cls, selection: Selection) -> SelectionParams:
        return cls(
            states=list(selection.states),
            site_ids=list(selection.site_ids),
            date_from=selection.date_from,
            date_to=selection.date_to,
            classes=list(selection.classes),
            annotator_ids=list(selection.annotator_ids),
            include_predictions=selection.include_predictions,
            annotations=selection.annotations,
            model_version=selection.model_version,
        )

    def selection(self) -> Selection:
        return Selection(
            states=tuple(self.states),
            site_ids=tuple(self.site_ids),
            date_from=self.date_from,
            date_to=self.date_to,
            classes=tuple(self.classes),
            annotator_ids=tuple(self.annotator_ids),
            include_predictions=self.include_predictions,
            annotations=self.annotations,
            model_version=self.model_version,
        )


class ExportParams(JobParams):
    format: str = Field(max_length=32, description="label-studio, geojson, gpkg, coco or masks.")
    selection: SelectionParams
    options: ExportOptions


class ExportReportRead(BaseModel):
    format: str
    tasks: int
    annotations: int
    predictions: int
    regions: int
    polygons: int
    multipart_regions_split: int
    holes_dropped: int
    hole_area_px: float
    notes: list[str]


class ExportResult(JobResult):
    file_key: str
    filename: str
    media_type: str
    size_bytes: int
    report: ExportReportRead


# --- the job as the API shows it -----------------------------------------------------------------

AnyJobParams = (
    ProbeParams
    | IngestParams
    | RenderParams
    | GeoreferenceParams
    | ExportParams
    | SamEmbedParams
    | SamPrelabelParams
    | SamCarryForwardParams
    | DatasetParams
    | TrainParams
    | PredictParams
)
AnyJobResult = (
    ProbeResult
    | IngestResult
    | RenderResult
    | GeoreferenceResult
    | ExportResult
    | SamEmbedResult
    | SamPrelabelResult
    | SamCarryForwardResult
    | DatasetResult
    | TrainResult
    | PredictResult
)

__all__ = ["JobParams", "JobResult"]


class AttemptRead(BaseModel):
    attempt: int
    host: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: Literal["running", "succeeded", "failed", "cancelled", "retrying", "lost", "requeued"]
    reason: str | None = None


class JobRead(BaseModel):
    id: uuid.UUID
    kind: JobKind
    queue: JobQueue
    project_id: uuid.UUID | None
    state: JobState
    progress: float = Field(description="Fraction done, 0 to 1.")
    message: str = Field(description="What the job is doing now, for a progress display.")
    eta_s: float | None = Field(
        description="Seconds left, estimated from the progress of the current attempt; None when unknown."
    )
    error: str | None
    params: AnyJobParams
    result: AnyJobResult | None
    attempts: int
    max_attempts: int
    attempt_log: list[AttemptRead]
    cancel_requested: bool = Field(description="A cancel was asked for; a running job stops soon.")
    created_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None


class JobList(BaseModel):
    items: list[JobRead]
    total: int


JobStateFilter = Literal["queued", "running", "succeeded", "failed", "cancelled"]
