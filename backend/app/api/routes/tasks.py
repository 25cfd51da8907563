"""The review workflow over HTTP: task lists and queues, next task, and every transition."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from app.api.access import AccessDep
from app.api.deps import CeleryDep, OffsetQuery, SessionDep, SettingsDep
from app.core.errors import ForbiddenError, InvalidInputError, ServiceUnavailableError
from app.models.observation import Observation, TaskState
from app.models.project import Site
from app.repositories import tasks as tasks_repo
from app.schemas.review import (
    ApproveRequest,
    AssignmentRead,
    AssignRequest,
    AuditEventRead,
    NextTaskRead,
    RejectRequest,
    ReleaseRequest,
    TaskList,
    TaskRead,
)
from app.services import comments as comments_service
from app.services import models as models_service
from app.services import projects as projects_service
from app.services import workflow

logger = logging.getLogger(__name__)
router = APIRouter(tags=["tasks"])

TASK = "/api/observations/{observation_id}/task"


def task_reads(session: Session, rows: list[tuple[Observation, Site]]) -> list[TaskRead]:
    ids = [o.id for o, _ in rows]
    assignments = tasks_repo.assignments_with_emails(session, ids)
    comments = tasks_repo.open_comment_counts(session, ids)
    reads = []
    for o, s in rows:
        held = [
            AssignmentRead(
                user_id=a.user_id,
                email=email,
                state=a.state,
                annotation_id=a.annotation_id,
                lease_expires_at=a.lease_expires_at,
            )
            for a, email in assignments.get(o.id, [])
        ]
        reads.append(
            TaskRead(
                observation_id=o.id,
                project_id=o.project_id,
                site_id=s.id,
                site_name=s.name,
                index=o.index,
                acquired_on=o.acquired_on.isoformat() if o.acquired_on else None,
                original_filename=o.original_filename,
                state=o.task_state,
                ground_truth_annotation_id=o.ground_truth_annotation_id,
                uncertainty=o.uncertainty,
                uncertainty_model=o.uncertainty_model,
                assignments=held,
                open_comments=comments.get(o.id, 0),
            )
        )
    return reads


def task_read(session: Session, task: Observation) -> TaskRead:
    site = session.get(Site, task.site_id)
    assert site is not None
    return task_reads(session, [(task, site)])[0]


@router.get("/api/projects/{project_id}/tasks", response_model=TaskList, summary="Tasks, with filters")
def list_tasks(
    project_id: uuid.UUID,
    session: SessionDep,
    state: Annotated[list[TaskState] | None, Query()] = None,
    site_id: uuid.UUID | None = None,
    assignee: uuid.UUID | None = None,
    acquired_from: Annotated[date | None, Query(description="Acquired on or after this date.")] = None,
    acquired_to: Annotated[date | None, Query(description="Acquired on or before this date.")] = None,
    sort: Annotated[
        Literal["series", "uncertainty"],
        Query(description="'uncertainty': what the champion model is least sure of first."),
    ] = "series",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
) -> TaskList:
    if acquired_from and acquired_to and acquired_from > acquired_to:
        raise InvalidInputError(f"acquired_from {acquired_from} is after acquired_to {acquired_to}.")
    rows, total = tasks_repo.list_tasks(
        session, project_id, states=state, site_id=site_id, assignee=assignee,
        acquired=(acquired_from, acquired_to), limit=limit, offset=offset,
        most_uncertain_first=sort == "uncertainty",
    )  # fmt: skip
    return TaskList(items=task_reads(session, rows), total=total)


@router.post(
    "/api/projects/{project_id}/tasks/next",
    response_model=NextTaskRead,
    summary="Your next task: your open one, one back for rework, or a new one, locked for you",
)
def next_task(
    project_id: uuid.UUID, session: SessionDep, settings: SettingsDep, access: AccessDep
) -> NextTaskRead:
    project = projects_service.get_project_or_raise(session, project_id)
    lease = timedelta(minutes=settings.review.lease_minutes)
    handout = workflow.next_task(session, project, access.user_id, lease)
    if handout is None:
        return NextTaskRead(task=None)
    return NextTaskRead(
        task=task_read(session, handout.task),
        annotation_id=handout.assignment.annotation_id,
        resumed=handout.resumed,
    )


@router.get(
    "/api/projects/{project_id}/review-queue",
    response_model=TaskList,
    summary="Submitted tasks waiting for review, longest waiting first",
)
def review_queue(
    project_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: OffsetQuery = 0,
) -> TaskList:
    rows, total = tasks_repo.list_tasks(
        session,
        project_id,
        states=[TaskState.SUBMITTED],
        limit=limit,
        offset=offset,
        oldest_change_first=True,
    )
    return TaskList(items=task_reads(session, rows), total=total)


@router.get(TASK, response_model=TaskRead, summary="The task: its state and who works on it")
def read_task(observation_id: uuid.UUID, session: SessionDep) -> TaskRead:
    return task_read(session, workflow.lock_task(session, observation_id))


@router.post(f"{TASK}/assign", response_model=TaskRead, summary="Assign the task to a member")
def assign_task(
    observation_id: uuid.UUID, body: AssignRequest, session: SessionDep, access: AccessDep
) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    workflow.assign(session, task, body.user_id, access.user_id)
    return task_read(session, task)


@router.post(f"{TASK}/submit", response_model=TaskRead, summary="Submit your work on the task for review")
def submit_task(observation_id: uuid.UUID, session: SessionDep, access: AccessDep) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    workflow.submit(session, task, access.user_id)
    return task_read(session, task)


@router.post(
    f"{TASK}/approve",
    response_model=TaskRead,
    summary="Approve the task, naming its ground truth annotation when it has several",
)
def approve_task(
    observation_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    celery: CeleryDep,
    access: AccessDep,
    body: ApproveRequest | None = None,
) -> TaskRead:
    """With the project's `auto_train_every` set, enough new approvals queue a training round."""
    task = workflow.lock_task(session, observation_id)
    workflow.approve(session, task, access.user_id, body.annotation_id if body else None)
    project = projects_service.get_project_or_raise(session, task.project_id)
    try:
        models_service.after_approval(session, celery, settings, project)
    except ServiceUnavailableError:
        logger.warning("no automatic training round: the job queue is unreachable", exc_info=True)
    return task_read(session, task)


@router.post(
    f"{TASK}/reject",
    response_model=TaskRead,
    summary="Reject the task: back to its annotators with a comment",
)
def reject_task(
    observation_id: uuid.UUID, body: RejectRequest, session: SessionDep, access: AccessDep
) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    given = comments_service.CommentInput(body=body.comment, region_id=body.region_id, point=body.point)
    workflow.reject(session, task, access.user_id, given)
    return task_read(session, task)


@router.post(f"{TASK}/rework", response_model=TaskRead, summary="Start fixing a rejected task")
def rework_task(observation_id: uuid.UUID, session: SessionDep, access: AccessDep) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    workflow.rework(session, task, access.user_id)
    return task_read(session, task)


@router.post(f"{TASK}/release", response_model=TaskRead, summary="Give the task back (your work is kept)")
def release_task(
    observation_id: uuid.UUID, session: SessionDep, access: AccessDep, body: ReleaseRequest | None = None
) -> TaskRead:
    whose = access.user_id
    if body is not None and body.user_id is not None and body.user_id != access.user_id:
        if access.is_annotator:
            raise ForbiddenError("Annotators release only their own assignment.")
        whose = body.user_id
    task = workflow.lock_task(session, observation_id)
    workflow.release(session, task, whose, access.user_id)
    return task_read(session, task)


@router.post(
    f"{TASK}/reopen", response_model=TaskRead, summary="Take a decision back: the task is submitted again"
)
def reopen_task(observation_id: uuid.UUID, session: SessionDep, access: AccessDep) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    workflow.reopen(session, task, access.user_id)
    return task_read(session, task)


@router.post(f"{TASK}/lease", response_model=TaskRead, summary="Keep the task reserved for you (a heartbeat)")
def renew_lease(
    observation_id: uuid.UUID, session: SessionDep, settings: SettingsDep, access: AccessDep
) -> TaskRead:
    task = workflow.lock_task(session, observation_id)
    workflow.renew_lease(session, task, access.user_id, timedelta(minutes=settings.review.lease_minutes))
    return task_read(session, task)


@router.get(f"{TASK}/audit", response_model=list[AuditEventRead], summary="The task's history of transitions")
def task_audit(observation_id: uuid.UUID, session: SessionDep, access: AccessDep) -> list[AuditEventRead]:
    assert access.target is not None and access.target.project_id is not None
    events = workflow.audit_log(session, access.target.project_id, observation_id)
    return [AuditEventRead.model_validate(e) for e in events]


@router.get(
    "/api/projects/{project_id}/audit", response_model=list[AuditEventRead], summary="The project's audit log"
)
def project_audit(project_id: uuid.UUID, session: SessionDep) -> list[AuditEventRead]:
    return [AuditEventRead.model_validate(e) for e in workflow.audit_log(session, project_id)]
