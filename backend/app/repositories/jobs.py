"""SQL for the jobs table."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models.job import Job, JobKind, JobQueue, JobState


def get_job(session: Session, job_id: uuid.UUID, *, for_update: bool = False) -> Job | None:
    stmt = select(Job).where(Job.id == job_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def list_jobs(
    session: Session,
    *,
    states: list[JobState],
    kind: JobKind | None,
    limit: int,
    offset: int,
    project_id: uuid.UUID | None = None,
) -> tuple[list[Job], int]:
    """Jobs newest first (of one project, or all), with the total before paging."""
    stmt = select(Job)
    if project_id is not None:
        stmt = stmt.where(Job.project_id == project_id)
    if states:
        stmt = stmt.where(Job.state.in_(states))
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)).all()
    return list(rows), total


def count_jobs_by_state_and_queue(session: Session) -> dict[tuple[JobState, JobQueue], int]:
    rows = session.execute(select(Job.state, Job.queue, func.count()).group_by(Job.state, Job.queue))
    return {(state, queue): count for state, queue, count in rows}
