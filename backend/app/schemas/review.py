"""API shapes for tasks, assignments, comments, the audit log, agreement and progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.models.observation import TaskState
from app.models.review import AssignmentState
from app.schemas.base import RequestModel

# A pixel [column, row]. Documented as an array of exactly two numbers rather than as pydantic's
# ``prefixItems`` tuple, which generated clients and OpenAPI tooling (schemathesis among them) misread.
Point = Annotated[
    tuple[float, float],
    WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}),
]


class AssignmentRead(BaseModel):
    user_id: uuid.UUID
    email: str
    state: AssignmentState
    annotation_id: uuid.UUID | None
    lease_expires_at: datetime | None


class TaskRead(BaseModel):
    observation_id: uuid.UUID
    project_id: uuid.UUID
    site_id: uuid.UUID
    site_name: str
    index: int
    acquired_on: str | None
    original_filename: str
    state: TaskState
    assignments: list[AssignmentRead]
    open_comments: int
    ground_truth_annotation_id: uuid.UUID | None = Field(
        default=None, description="An approved task's ground truth: the annotation that stands for it."
    )
    uncertainty: float | None = Field(
        default=None, description="How unsure the champion model is of the image (0-1, mean entropy)."
    )
    uncertainty_model: str | None = Field(default=None, description="The model version that said so.")


class TaskList(BaseModel):
    items: list[TaskRead]
    total: int


class NextTaskRead(BaseModel):
    task: TaskRead | None = Field(description="None when no task is left for you.")
    annotation_id: uuid.UUID | None = None
    resumed: bool = False


class AssignRequest(RequestModel):
    user_id: uuid.UUID


class ReleaseRequest(RequestModel):
    user_id: uuid.UUID | None = Field(default=None, description="Admins: whose assignment; default yours.")


class CommentCreate(RequestModel):
    body: str = Field(max_length=10_000)
    parent_id: uuid.UUID | None = None
    region_id: uuid.UUID | None = None
    point: Point | None = Field(default=None, description="Pixel [column, row] to pin it to.")


class ApproveRequest(RequestModel):
    annotation_id: uuid.UUID | None = Field(
        default=None,
        description="The annotation that becomes the task's ground truth; needed when it has several.",
    )


class RejectRequest(RequestModel):
    comment: str = Field(max_length=10_000, description="Required: what the annotator should fix.")
    region_id: uuid.UUID | None = None
    point: Point | None = None


class ResolveRequest(RequestModel):
    resolved: bool = True


class CommentRead(BaseModel):
    id: uuid.UUID
    observation_id: uuid.UUID
    parent_id: uuid.UUID | None
    region_id: uuid.UUID | None
    point: Point | None
    author_id: uuid.UUID | None
    author_email: str | None
    body: str
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    created_at: datetime


class ThreadRead(BaseModel):
    comment: CommentRead
    replies: list[CommentRead]


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    observation_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]
    created_at: datetime


class PairAgreement(BaseModel):
    observation_id: uuid.UUID
    annotation_a: uuid.UUID
    user_a: uuid.UUID | None
    annotation_b: uuid.UUID
    user_b: uuid.UUID | None
    label: str
    intersection_px: float
    union_px: float
    iou: float
    with_ground_truth: bool = Field(description="One of the two is the approved task's ground truth.")


class ClassAgreement(BaseModel):
    label: str
    pairs: int
    mean_iou: float
    min_iou: float
    ground_truth_pairs: int = Field(description="Pairs of an annotation with its task's ground truth.")
    ground_truth_mean_iou: float | None = Field(
        description="How close annotations came to the ground truth (None: no approved task with several)."
    )


class AgreementReport(BaseModel):
    pairs: list[PairAgreement]
    per_class: list[ClassAgreement]


class AnnotatorProgress(BaseModel):
    user_id: uuid.UUID
    email: str
    in_progress: int
    submitted: int
    approved: int
    rejected: int
    regions: int
    area_ha: float


class ClassArea(BaseModel):
    label: str
    regions: int
    area_px: float
    area_ha: float | None
    approved_area_ha: float


class ProgressReport(BaseModel):
    tasks_by_state: dict[str, int]
    tasks_total: int
    per_annotator: list[AnnotatorProgress]
    per_class: list[ClassArea]
