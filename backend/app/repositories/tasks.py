"""SQL for task lists: observations with their state, assignments and open comments."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy import Select, UnaryExpression, func, select
from sqlalchemy.orm import Session

from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.project import Site
from app.models.review import Assignment, ReviewComment
from app.models.user import User


def _filtered(
    project_id: uuid.UUID,
    states: list[TaskState] | None,
    site_id: uuid.UUID | None,
    assignee: uuid.UUID | None,
    acquired: tuple[date | None, date | None] = (None, None),
) -> Select[Observation, Site]:
    stmt = select(Observation, Site).join(Site, Site.id == Observation.site_id)
    stmt = stmt.where(Observation.project_id == project_id, Observation.status == ObservationStatus.READY)
    if states:
        stmt = stmt.where(Observation.task_state.in_(states))
    if site_id is not None:
        stmt = stmt.where(Observation.site_id == site_id)
    acquired_from, acquired_to = acquired
    if acquired_from is not None:
        stmt = stmt.where(Observation.acquired_on >= acquired_from)
    if acquired_to is not None:
        stmt = stmt.where(Observation.acquired_on <= acquired_to)
    if assignee is not None:
        stmt = stmt.where(
            select(Assignment.id)
            .where(Assignment.observation_id == Observation.id, Assignment.user_id == assignee)
            .exists()
        )
    return stmt


def list_tasks(
    session: Session,
    project_id: uuid.UUID,
    *,
    states: list[TaskState] | None = None,
    site_id: uuid.UUID | None = None,
    assignee: uuid.UUID | None = None,
    acquired: tuple[date | None, date | None] = (None, None),
    limit: int = 100,
    offset: int = 0,
    oldest_change_first: bool = False,
    most_uncertain_first: bool = False,
) -> tuple[list[tuple[Observation, Site]], int]:
    stmt = _filtered(project_id, states, site_id, assignee, acquired)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    series = (Site.name, Observation.index)
    order = (
        (Observation.created_at,)
        if oldest_change_first
        else (uncertainty_first(), *series)
        if most_uncertain_first
        else series
    )
    rows = session.execute(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return [(o, s) for o, s in rows], total


def assignments_with_emails(
    session: Session, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[Assignment, str]]]:
    found: dict[uuid.UUID, list[tuple[Assignment, str]]] = defaultdict(list)
    rows = session.execute(
        select(Assignment, User.email)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.observation_id.in_(task_ids))
        .order_by(Assignment.created_at)
    )
    for assignment, email in rows:
        found[assignment.observation_id].append((assignment, email))
    return found


def open_comment_counts(session: Session, task_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(ReviewComment.observation_id, func.count())
        .where(
            ReviewComment.observation_id.in_(task_ids),
            ReviewComment.parent_id.is_(None),
            ReviewComment.resolved_at.is_(None),
        )
        .group_by(ReviewComment.observation_id)
    )
    return {task_id: count for task_id, count in rows}


def uncertainty_first() -> UnaryExpression[float | None]:
    """The tasks the champion model is least sure of first; those it never saw last."""
    return Observation.uncertainty.desc().nulls_last()
