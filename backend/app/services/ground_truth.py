"""The ground truth of an approved task: the one annotation that stands for it, chosen when it is approved.

With one live annotation it is that one. With several (overlap, or a reviewer's own corrected copy), the
reviewer chooses, and approving without a choice is refused with the candidates listed. The choice is
recorded on the task (``ground_truth_annotation_id``) and read through app.repositories.ground_truth.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, InvalidInputError
from app.models.annotation import Annotation, Region
from app.models.observation import Observation, TaskState
from app.models.user import User


class GroundTruthRequiredError(InvalidInputError):
    code = "ground_truth_required"


class NotThisTasksAnnotationError(InvalidInputError):
    code = "annotation_not_of_task"


class TaskApprovedError(ConflictError):
    code = "task_approved"


@dataclass(frozen=True)
class Candidate:
    annotation_id: uuid.UUID
    created_by: uuid.UUID | None
    email: str | None
    regions: int


def candidates(session: Session, task_id: uuid.UUID) -> list[Candidate]:
    """The task's live annotations, oldest first, with their author and number of live regions."""
    live_regions = (
        select(func.count(Region.id))
        .where(Region.annotation_id == Annotation.id, Region.deleted_at.is_(None))
        .scalar_subquery()
    )
    rows = session.execute(
        select(Annotation.id, Annotation.created_by, User.email, live_regions)
        .outerjoin(User, User.id == Annotation.created_by)
        .where(Annotation.observation_id == task_id, Annotation.deleted_at.is_(None))
        .order_by(Annotation.created_at, Annotation.id)
    )
    return [Candidate(row[0], row[1], row[2], int(row[3])) for row in rows]


def choose(session: Session, task: Observation, annotation_id: uuid.UUID | None) -> uuid.UUID | None:
    """The annotation that becomes the task's ground truth when it is approved.

    Args:
        annotation_id: the reviewer's choice; needed when the task has more than one live annotation.

    Returns:
        The chosen annotation's id, or None for a task without any annotation (approved as empty).
    """
    found = candidates(session, task.id)
    if annotation_id is not None:
        if annotation_id not in {c.annotation_id for c in found}:
            raise NotThisTasksAnnotationError(
                f"Annotation {annotation_id} is not a live annotation of this task; choose one of "
                f"{_listing(found) or 'none (the task has no annotation)'}."
            )
        return annotation_id
    if len(found) > 1:
        raise GroundTruthRequiredError(
            f"This task has {len(found)} annotations ({_listing(found)}); say which one is the ground truth "
            'with {"annotation_id": ...}, or save a reviewed annotation of your own and choose that.',
            candidates=[
                {
                    "annotation_id": str(c.annotation_id),
                    "created_by": str(c.created_by) if c.created_by else None,
                    "email": c.email,
                    "regions": c.regions,
                }
                for c in found
            ],
        )
    return found[0].annotation_id if found else None


def ensure_editable(task: Observation) -> None:
    """Refuse any change of labels on an approved task, whoever asks: approved labels are ground truth."""
    if task.task_state is TaskState.APPROVED:
        raise TaskApprovedError(
            f"Task {task.id} is approved: its labels are ground truth and do not change. A project admin can "
            f"reopen it (POST /api/observations/{task.id}/task/reopen) to send it back to review first.",
            state=task.task_state.value,
        )


def _listing(found: list[Candidate]) -> str:
    return ", ".join(f"{c.annotation_id} by {c.email or 'nobody'} ({c.regions} regions)" for c in found)
