"""ORM models; importing this package registers every table on ``Base.metadata`` (Alembic needs that)."""

from app.models.access import ApiToken, AuthSession, ProjectMember, ProjectRole
from app.models.annotation import (
    Annotation,
    IdempotencyRecord,
    Prediction,
    Region,
    RegionSource,
    Revision,
    RevisionAction,
    StoredWarning,
)
from app.models.job import Job, JobKind, JobQueue, JobState
from app.models.ml import Dataset, DatasetState, ModelState, ModelVersion
from app.models.observation import AcquiredSource, GeorefSource, Observation, ObservationStatus, TaskState
from app.models.project import DisplayPreset, Project, Site
from app.models.review import Assignment, AssignmentState, AuditEvent, ReviewComment
from app.models.user import User

__all__ = [
    "AcquiredSource",
    "Annotation",
    "ApiToken",
    "Assignment",
    "AssignmentState",
    "AuditEvent",
    "AuthSession",
    "Dataset",
    "DatasetState",
    "DisplayPreset",
    "GeorefSource",
    "IdempotencyRecord",
    "Job",
    "JobKind",
    "JobQueue",
    "JobState",
    "ModelState",
    "ModelVersion",
    "Observation",
    "ObservationStatus",
    "Prediction",
    "Project",
    "ProjectMember",
    "ProjectRole",
    "Region",
    "RegionSource",
    "ReviewComment",
    "Revision",
    "RevisionAction",
    "Site",
    "StoredWarning",
    "TaskState",
    "User",
]
