"""The review workflow: task states, assignment with leases, and the audit log.

A task is one observation. Its state moves ``new -> in_progress -> submitted -> approved | rejected``; a
rejected task goes back to its annotators (``rework``) and is submitted again. With overlap (a project's
``annotators_per_task`` > 1) each annotator holds an assignment of their own and the task is submitted
when all of them have submitted. Who may call each action is decided by the permission table
(app.api.permissions); this module decides from which states, and writes every change to the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, InvalidInputError, NotFoundError
from app.models.access import ProjectMember, ProjectRole
from app.models.annotation import Annotation, Revision, RevisionAction
from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.project import Project, Site
from app.models.review import Assignment, AssignmentState, AuditEvent, ReviewComment
from app.repositories import tasks as tasks_repo
from app.services import ground_truth
from app.services.comments import CommentInput, build_comment

S = TaskState
# action -> the states it may start from. A request in any other state is answered 409.
ALLOWED_FROM: dict[str, frozenset[TaskState]] = {
    "start": frozenset({S.NEW, S.IN_PROGRESS}),  # an annotator takes (a share of) the task
    "assign": frozenset({S.NEW, S.IN_PROGRESS}),  # an admin gives it to someone
    "submit": frozenset({S.IN_PROGRESS}),
    "approve": frozenset({S.SUBMITTED}),
    "reject": frozenset({S.SUBMITTED}),
    "rework": frozenset({S.REJECTED}),
    "release": frozenset({S.IN_PROGRESS}),  # an annotator gives the task back
    "reopen": frozenset({S.APPROVED, S.REJECTED}),  # an admin takes a decision back to review
}

# "rework" is the word annotators know for a rejected task; the state machine calls it REJECTED.
STATE_WORDS = {S.REJECTED: "rejected (waiting for rework)"}


class TaskNotFoundError(NotFoundError):
    code = "observation_not_found"


class TransitionError(ConflictError):
    code = "transition_not_allowed"


def _now() -> datetime:
    return datetime.now(UTC)


def lock_task(session: Session, observation_id: uuid.UUID) -> Observation:
    """The task's row, locked until commit, so that concurrent transitions happen one after another."""
    task = session.scalars(
        select(Observation).where(Observation.id == observation_id).with_for_update()
    ).one_or_none()
    if task is None:
        raise TaskNotFoundError(f"No observation with id {observation_id}.")
    return task


def check_transition(task: Observation, action: str) -> None:
    allowed = ALLOWED_FROM[action]
    if task.task_state not in allowed:
        state = STATE_WORDS.get(task.task_state, task.task_state.value)
        starts = ", ".join(sorted(s.value for s in allowed))
        raise TransitionError(
            f"Cannot {action} this task: it is {state}; {action} is possible from: {starts}.",
            state=task.task_state.value,
        )


def audit(
    session: Session,
    task: Observation | None,
    project_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    from_state: TaskState | None = None,
    to_state: TaskState | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            project_id=project_id, observation_id=task.id if task else None, actor_id=actor_id, action=action,
            from_state=from_state and from_state.value, to_state=to_state and to_state.value,
            detail={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in detail.items()},
        )
    )  # fmt: skip


def _move(
    session: Session, task: Observation, actor_id: uuid.UUID | None, action: str, to: TaskState, **detail: Any
) -> None:
    before = task.task_state
    task.task_state = to
    audit(session, task, task.project_id, actor_id, action, before, to, **detail)


def _assignments(session: Session, task_id: uuid.UUID) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment).where(Assignment.observation_id == task_id).order_by(Assignment.created_at)
        )
    )


def assignment_of(session: Session, task_id: uuid.UUID, user_id: uuid.UUID) -> Assignment | None:
    return session.scalars(
        select(Assignment).where(Assignment.observation_id == task_id, Assignment.user_id == user_id)
    ).one_or_none()


def _state_from_assignments(session: Session, task: Observation) -> TaskState:
    """new / in_progress / submitted as the task's assignments say (decided states are not derived)."""
    assignments = _assignments(session, task.id)
    if not assignments:
        return S.NEW
    project = session.get(Project, task.project_id)
    assert project is not None
    done = sum(1 for a in assignments if a.state == AssignmentState.SUBMITTED)
    return S.SUBMITTED if done >= project.annotators_per_task and done == len(assignments) else S.IN_PROGRESS


def _own_annotation(session: Session, task: Observation, user_id: uuid.UUID) -> Annotation:
    """The user's live annotation on the task, made (empty) when they have none, e.g. on a first start."""
    annotation = session.scalars(
        select(Annotation)
        .where(
            Annotation.observation_id == task.id,
            Annotation.created_by == user_id,
            Annotation.deleted_at.is_(None),
        )
        .order_by(Annotation.created_at)
        .limit(1)
    ).first()
    if annotation is None:
        annotation = Annotation(project_id=task.project_id, observation_id=task.id, created_by=user_id)
        session.add(annotation)
        session.flush()
        session.add(Revision(annotation_id=annotation.id, action=RevisionAction.CREATE, annotation_version=1,
                             user_id=user_id))  # fmt: skip
    return annotation


def _take(
    session: Session, task: Observation, user_id: uuid.UUID, lease_until: datetime | None,
    actor_id: uuid.UUID, action: str,
) -> Assignment:  # fmt: skip
    project = session.get(Project, task.project_id)
    assert project is not None
    assignments = _assignments(session, task.id)
    if any(a.user_id == user_id for a in assignments):
        raise ConflictError("This user works on the task already.")
    if len(assignments) >= project.annotators_per_task:
        raise ConflictError(
            f"The task has its {project.annotators_per_task} annotator(s) already; release one first, or "
            "raise the project's annotators_per_task for overlap."
        )
    annotation = _own_annotation(session, task, user_id)
    assignment = Assignment(
        project_id=task.project_id, observation_id=task.id, user_id=user_id, annotation_id=annotation.id,
        lease_expires_at=lease_until, assigned_by=actor_id,
    )  # fmt: skip
    session.add(assignment)
    session.flush()
    _move(session, task, actor_id, action, S.IN_PROGRESS, user_id=user_id)
    return assignment


def sweep_expired_leases(session: Session, project_id: uuid.UUID) -> int:
    """Drop in-progress assignments whose lease has run out, so others may take their tasks. The
    annotator's annotation is kept (they find it again if they take the task later)."""
    expired = list(
        session.scalars(
            select(Assignment)
            .where(
                Assignment.project_id == project_id,
                Assignment.state == AssignmentState.IN_PROGRESS,
                Assignment.lease_expires_at < _now(),
            )
            .with_for_update(skip_locked=True)
        )
    )
    for assignment in expired:
        task = lock_task(session, assignment.observation_id)
        session.delete(assignment)
        session.flush()
        if task.task_state in (S.NEW, S.IN_PROGRESS):
            state = _state_from_assignments(session, task)
            _move(session, task, None, "lease_expired", state, user_id=assignment.user_id)
    return len(expired)


@dataclass(frozen=True)
class Handout:
    task: Observation
    assignment: Assignment
    resumed: bool  # the user had this task already (in progress or back for rework)


def next_task(session: Session, project: Project, user_id: uuid.UUID, lease: timedelta) -> Handout | None:
    """The annotator's next task: their open one first (renewing its lease), then one back for rework,
    then a new one (series in order), locked for them until the lease runs out. None when none is left."""
    sweep_expired_leases(session, project.id)
    lease_until = _now() + lease
    own = session.execute(
        select(Assignment, Observation)
        .join(Observation, Observation.id == Assignment.observation_id)
        .where(
            Assignment.project_id == project.id,
            Assignment.user_id == user_id,
            Observation.task_state.in_([S.IN_PROGRESS, S.REJECTED]),
        )
        .order_by(Assignment.created_at)
    ).all()
    for assignment, task in own:
        if assignment.state == AssignmentState.IN_PROGRESS:
            if assignment.lease_expires_at is not None:
                assignment.lease_expires_at = lease_until
            session.commit()
            return Handout(task, assignment, resumed=True)
    for assignment, task in own:
        if task.task_state == S.REJECTED:
            rework(session, lock_task(session, task.id), user_id)
            return Handout(task, assignment, resumed=True)

    taken = func.count(Assignment.id).label("taken")
    candidates = (
        select(Observation)
        .join(Site, Site.id == Observation.site_id)
        .outerjoin(Assignment, Assignment.observation_id == Observation.id)
        .where(
            Observation.project_id == project.id,
            Observation.status == ObservationStatus.READY,
            Observation.task_state.in_([S.NEW, S.IN_PROGRESS]),
        )
        .group_by(Observation.id, Site.name)
        .having(taken < project.annotators_per_task)
        .having(func.count().filter(Assignment.user_id == user_id) == 0)
        .order_by(
            *([tasks_repo.uncertainty_first()] if project.next_task_order == "uncertainty" else []),
            Site.name,
            Observation.index,
        )
    )
    for candidate_id in list(session.scalars(candidates.with_only_columns(Observation.id).limit(50))):
        # SKIP LOCKED: a task another annotator is taking right now is passed over, not waited for.
        locked = session.scalars(
            select(Observation).where(Observation.id == candidate_id).with_for_update(skip_locked=True)
        ).one_or_none()
        if locked is None or locked.task_state not in ALLOWED_FROM["start"]:
            continue
        session.refresh(locked)  # the row as it is now that we hold its lock
        if len(_assignments(session, locked.id)) >= project.annotators_per_task:
            continue  # filled while we looked
        assignment = _take(session, locked, user_id, lease_until, user_id, "start")
        session.commit()
        return Handout(locked, assignment, resumed=False)
    session.commit()
    return None


def assign(session: Session, task: Observation, user_id: uuid.UUID, actor_id: uuid.UUID) -> Assignment:
    """An admin gives the task to a member (no lease: it stays theirs until released)."""
    member = session.get(ProjectMember, (task.project_id, user_id))
    if member is None or member.role == ProjectRole.REVIEWER:
        raise InvalidInputError(
            f"User {user_id} is not an annotator or admin of this project; add them as a member first."
        )
    check_transition(task, "assign")
    assignment = _take(session, task, user_id, None, actor_id, "assign")
    session.commit()
    return assignment


def _open_assignment(session: Session, task: Observation, user_id: uuid.UUID, action: str) -> Assignment:
    assignment = assignment_of(session, task.id, user_id)
    if assignment is None:
        raise TransitionError(f"Cannot {action}: the task is not assigned to you (take it with 'next task').")
    return assignment


def submit(session: Session, task: Observation, user_id: uuid.UUID) -> None:
    check_transition(task, "submit")
    assignment = _open_assignment(session, task, user_id, "submit")
    if assignment.state == AssignmentState.SUBMITTED:
        raise TransitionError("You have submitted this task already; it waits for the other annotators.")
    assignment.state = AssignmentState.SUBMITTED
    assignment.lease_expires_at = None
    assignment.updated_at = _now()
    session.flush()
    state = _state_from_assignments(session, task)
    _move(session, task, user_id, "submit", state)
    session.commit()


def approve(
    session: Session, task: Observation, actor_id: uuid.UUID, annotation_id: uuid.UUID | None = None
) -> None:
    """Approve the task with its ground truth (see app.services.ground_truth.choose)."""
    check_transition(task, "approve")
    truth = ground_truth.choose(session, task, annotation_id)
    task.ground_truth_annotation_id = truth
    _set_assignments(session, task, AssignmentState.APPROVED)
    _move(session, task, actor_id, "approve", S.APPROVED, ground_truth_annotation_id=truth)
    session.commit()


def _set_assignments(session: Session, task: Observation, state: AssignmentState) -> None:
    for assignment in _assignments(session, task.id):
        assignment.state = state
        assignment.updated_at = _now()


def reject(session: Session, task: Observation, actor_id: uuid.UUID, given: CommentInput) -> ReviewComment:
    """Send the task back to its annotators with the reviewer's comment (required: say what to fix). The state
    is checked first: a comment cannot make a wrong reject right."""
    check_transition(task, "reject")
    comment = build_comment(session, task, actor_id, given)
    session.add(comment)
    session.flush()
    _move(session, task, actor_id, "reject", S.REJECTED, comment_id=comment.id)
    session.commit()
    return comment


def rework(session: Session, task: Observation, user_id: uuid.UUID) -> None:
    check_transition(task, "rework")
    assignment = _open_assignment(session, task, user_id, "rework")
    assignment.state = AssignmentState.IN_PROGRESS
    assignment.lease_expires_at = None  # a rejected task is its annotator's to fix, whatever the time
    assignment.updated_at = _now()
    _move(session, task, user_id, "rework", S.IN_PROGRESS)
    session.commit()


def release(session: Session, task: Observation, user_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    """Give the task back (the annotation is kept); an admin may release anyone's assignment."""
    check_transition(task, "release")
    assignment = _open_assignment(session, task, user_id, "release")
    if assignment.state != AssignmentState.IN_PROGRESS:
        raise TransitionError("Only work in progress can be released; this assignment is submitted.")
    session.delete(assignment)
    session.flush()
    state = _state_from_assignments(session, task)
    _move(session, task, actor_id, "release", state, user_id=user_id)
    session.commit()


def reopen(session: Session, task: Observation, actor_id: uuid.UUID) -> None:
    """Back to review; an approved task's ground truth is chosen again when it is approved again."""
    check_transition(task, "reopen")
    previous = task.ground_truth_annotation_id
    task.ground_truth_annotation_id = None
    if task.task_state is S.APPROVED:
        _set_assignments(session, task, AssignmentState.SUBMITTED)
    _move(session, task, actor_id, "reopen", S.SUBMITTED, previous_ground_truth=previous)
    session.commit()


def renew_lease(session: Session, task: Observation, user_id: uuid.UUID, lease: timedelta) -> Assignment:
    assignment = _open_assignment(session, task, user_id, "renew the lease")
    if assignment.state != AssignmentState.IN_PROGRESS:
        raise TransitionError("The task is submitted; there is no lease to renew.")
    if assignment.lease_expires_at is not None:
        assignment.lease_expires_at = _now() + lease
    session.commit()
    return assignment


def touch_lease(session: Session, task_id: uuid.UUID, user_id: uuid.UUID, lease: timedelta) -> None:
    """Push the lease of the user's open assignment on the task (if it has one that expires) forward."""
    session.execute(
        update(Assignment)
        .where(
            Assignment.observation_id == task_id,
            Assignment.user_id == user_id,
            Assignment.state == AssignmentState.IN_PROGRESS,
            Assignment.lease_expires_at.is_not(None),
        )
        .values(lease_expires_at=_now() + lease)
    )
    session.commit()


def audit_log(session: Session, project_id: uuid.UUID, task_id: uuid.UUID | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.project_id == project_id)
    if task_id is not None:
        stmt = stmt.where(AuditEvent.observation_id == task_id)
    return list(session.scalars(stmt.order_by(AuditEvent.id)))
