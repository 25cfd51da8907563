"""Review comments on a task: pinned to a point or a region, threaded, resolvable."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.access import AccessDep
from app.api.deps import QueryBool, SessionDep
from app.models.review import ReviewComment
from app.models.user import User
from app.schemas.review import CommentCreate, CommentRead, ResolveRequest, ThreadRead
from app.services import comments as service
from app.services import workflow

router = APIRouter(tags=["comments"])


def _emails(session: Session, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    return {
        user_id: email
        for user_id, email in session.execute(select(User.id, User.email).where(User.id.in_(wanted)))
    }


def comment_read(comment: ReviewComment, emails: dict[uuid.UUID, str]) -> CommentRead:
    point = None
    if comment.point is not None:
        shape = to_shape(comment.point)
        assert isinstance(shape, Point)
        point = (shape.x, shape.y)
    return CommentRead(
        id=comment.id, observation_id=comment.observation_id, parent_id=comment.parent_id,
        region_id=comment.region_id, point=point, author_id=comment.author_id,
        author_email=emails.get(comment.author_id) if comment.author_id else None, body=comment.body,
        resolved_at=comment.resolved_at, resolved_by=comment.resolved_by, created_at=comment.created_at,
    )  # fmt: skip


@router.get(
    "/api/observations/{observation_id}/comments",
    response_model=list[ThreadRead],
    summary="The task's comment threads, oldest first",
)
def list_comments(
    observation_id: uuid.UUID, session: SessionDep, include_resolved: QueryBool = True
) -> list[ThreadRead]:
    threads = service.threads(session, observation_id, include_resolved=include_resolved)
    emails = _emails(session, {c.author_id for t in threads for c in [t.comment, *t.replies]})
    return [
        ThreadRead(
            comment=comment_read(t.comment, emails), replies=[comment_read(r, emails) for r in t.replies]
        )
        for t in threads
    ]


@router.post(
    "/api/observations/{observation_id}/comments",
    response_model=CommentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Comment on the task (pinned to a point or region), or reply in a thread",
)
def add_comment(
    observation_id: uuid.UUID, body: CommentCreate, session: SessionDep, access: AccessDep
) -> CommentRead:
    task = workflow.lock_task(session, observation_id)
    given = service.CommentInput(
        body=body.body, parent_id=body.parent_id, region_id=body.region_id, point=body.point
    )
    comment = service.add_comment(session, task, access.user_id, given)
    return comment_read(comment, _emails(session, {comment.author_id}))


@router.post(
    "/api/comments/{comment_id}/resolve", response_model=CommentRead, summary="Resolve (or reopen) a thread"
)
def resolve_comment(
    comment_id: uuid.UUID, body: ResolveRequest, session: SessionDep, access: AccessDep
) -> CommentRead:
    comment = service.set_resolved(session, comment_id, access.user_id, body.resolved)
    return comment_read(comment, _emails(session, {comment.author_id}))


@router.delete(
    "/api/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a comment and its replies",
)
def delete_comment(comment_id: uuid.UUID, session: SessionDep) -> None:
    service.delete_comment(session, comment_id)
