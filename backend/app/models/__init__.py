"""ORM models; importing this package registers every table on ``Base.metadata`` (Alembic needs that)."""

from app.models.job import Job, JobQueue, JobState
from app.models.user import User

__all__ = ["Job", "JobQueue", "JobState", "User"]
