"""ORM models; importing this package registers every table on ``Base.metadata`` (Alembic needs that)."""

from app.models.job import Job, JobQueue, JobState
from app.models.observation import GeorefSource, Observation, ObservationStatus
from app.models.project import DisplayPreset, Project, Site
from app.models.user import User

__all__ = [
    "DisplayPreset",
    "GeorefSource",
    "Job",
    "JobQueue",
    "JobState",
    "Observation",
    "ObservationStatus",
    "Project",
    "Site",
    "User",
]
