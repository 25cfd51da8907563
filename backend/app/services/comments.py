"""Reviewers' comments on a task: pinned to a point or a region, threaded, resolvable."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError, NotFoundError
from app.models.annotation import Region
from app.models.observation import Observation
from app.models.review import ReviewComment

MAX_COMMENT_CHARS = 10_000


class CommentNotFoundError(NotFoundError):
    code = "comment_not_found"


@dataclass(frozen=True)
class CommentInput:
    body: str
    parent_id: uuid.UUID | None = None
    region_id: uuid.UUID | None = None
    point: tuple[float, float] | None = None  # pixel (column, row)


def build_comment(
    session: Session, task: Observation, author_id: uuid.UUID, comment: CommentInput
) -> ReviewComment:
    """A checked, unsaved comment: text present, parent in the same task, pin on this task's image."""
    body = comment.body.strip()
    if not body:
        raise InvalidInputError("A comment needs text: say what is wrong or what to change.")
    if len(body) > MAX_COMMENT_CHARS:
        raise InvalidInputError(
            f"A comment may have at most {MAX_COMMENT_CHARS} characters, not {len(body)}."
        )
    if comment.parent_id is not None:
        parent = session.get(ReviewComment, comment.parent_id)
        if parent is None or parent.observation_id != task.id:
            raise InvalidInputError(f"parent_id {comment.parent_id} is no comment of this task.")
        if comment.region_id is not None or comment.point is not None:
            raise InvalidInputError(
                "A reply is part of its thread: pin the thread's first comment, not a reply."
            )
    if comment.region_id is not None and comment.point is not None:
        raise InvalidInputError("Pin a comment to a point or to a region, not both.")
    if comment.region_id is not None:
        region = session.get(Region, comment.region_id)
        if region is None or region.observation_id != task.id:
            raise InvalidInputError(f"region_id {comment.region_id} is no region of this task.")
    point = None
    if comment.point is not None:
        x, y = comment.point
        if not (0 <= x <= task.width and 0 <= y <= task.height):
            raise InvalidInputError(
                f"The point ({x}, {y}) is outside the image (0..{task.width} x 0..{task.height} pixels)."
            )
        point = from_shape(Point(x, y), srid=0)
    return ReviewComment(
        project_id=task.project_id, observation_id=task.id, parent_id=comment.parent_id,
        region_id=comment.region_id, point=point, author_id=author_id, body=body,
    )  # fmt: skip


def add_comment(
    session: Session, task: Observation, author_id: uuid.UUID, comment: CommentInput
) -> ReviewComment:
    row = build_comment(session, task, author_id, comment)
    session.add(row)
    session.commit()
    return row


@dataclass
class Thread:
    comment: ReviewComment
    replies: list[ReviewComment] = field(default_factory=list)


def threads(session: Session, task_id: uuid.UUID, *, include_resolved: bool = True) -> list[Thread]:
    """The task's threads, oldest first; each reply joins the thread of its first comment."""
    rows = list(
        session.scalars(
            select(ReviewComment)
            .where(ReviewComment.observation_id == task_id)
            .order_by(ReviewComment.created_at)
        )
    )
    by_id = {row.id: row for row in rows}

    def root(row: ReviewComment) -> ReviewComment:
        while row.parent_id is not None and row.parent_id in by_id:
            row = by_id[row.parent_id]
        return row

    found: dict[uuid.UUID, Thread] = {}
    for row in rows:
        top = root(row)
        thread = found.setdefault(top.id, Thread(top))
        if row is not top:
            thread.replies.append(row)
    return [t for t in found.values() if include_resolved or t.comment.resolved_at is None]


def get_comment(session: Session, comment_id: uuid.UUID) -> ReviewComment:
    comment = session.get(ReviewComment, comment_id)
    if comment is None:
        raise CommentNotFoundError(f"No comment with id {comment_id}.")
    return comment


def set_resolved(
    session: Session, comment_id: uuid.UUID, user_id: uuid.UUID, resolved: bool
) -> ReviewComment:
    comment = get_comment(session, comment_id)
    if comment.parent_id is not None:
        raise InvalidInputError("Resolve the thread (its first comment), not a reply.")
    comment.resolved_at = datetime.now(UTC) if resolved else None
    comment.resolved_by = user_id if resolved else None
    session.commit()
    return comment


def delete_comment(session: Session, comment_id: uuid.UUID) -> None:
    session.delete(get_comment(session, comment_id))  # replies go with it (ON DELETE CASCADE)
    session.commit()
