"""Which observations of a project a batch job runs over: given ids, a site, a date range, task states; by
default every ready one. SAM's batch jobs and model predictions choose alike."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError
from app.models.observation import Observation, ObservationStatus, TaskState


def ready_observations(
    session: Session,
    project_id: uuid.UUID,
    *,
    ids: Sequence[uuid.UUID] = (),
    site_id: uuid.UUID | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    states: Sequence[TaskState] = (),
) -> list[uuid.UUID]:
    """The ready observations that match, in series order; a clear error when none does, or when a given
    id is not a ready observation of the project."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInputError(f"date_from {date_from} is after date_to {date_to}.")
    stmt = select(Observation.id).where(
        Observation.project_id == project_id, Observation.status == ObservationStatus.READY
    )
    if ids:
        stmt = stmt.where(Observation.id.in_(ids))
    if site_id is not None:
        stmt = stmt.where(Observation.site_id == site_id)
    if date_from is not None:
        stmt = stmt.where(Observation.acquired_on >= date_from)
    if date_to is not None:
        stmt = stmt.where(Observation.acquired_on <= date_to)
    if states:
        stmt = stmt.where(Observation.task_state.in_(states))
    found = list(session.scalars(stmt.order_by(Observation.site_id, Observation.index)))
    if ids and not states and len(found) < len(set(ids)):
        missing = sorted(set(map(str, ids)) - set(map(str, found)))
        raise InvalidInputError(
            f"Not ready observations of this project: {', '.join(missing[:10])}; choose ready ones."
        )
    if not found:
        which = f" in state {', '.join(s.value for s in states)}" if states else ""
        raise InvalidInputError(f"No ready observation{which} matches the selection; nothing to do.")
    return found
