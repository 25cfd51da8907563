"""ORM models; importing this package registers every table on ``Base.metadata`` (Alembic needs that)."""

from app.models.annotation import (
    Annotation,
    IdempotencyRecord,
    Prediction,
    Region,
    RegionSource,
    Revision,
    RevisionAction,
)
from app.models.job import Job, JobQueue, JobState
from app.models.observation import GeorefSource, Observation, ObservationStatus
from app.models.project import DisplayPreset, Project, Site
from app.models.user import User

__all__ = [
    "Annotation",
    "DisplayPreset",
    "GeorefSource",
    "IdempotencyRecord",
    "Job",
    "JobQueue",
    "JobState",
    "Observation",
    "ObservationStatus",
    "Prediction",
    "Project",
    "Region",
    "RegionSource",
    "Revision",
    "RevisionAction",
    "Site",
    "User",
]
