"""The review workflow through the API on real PostGIS: every transition from every state, next task with
leases and overlap, explicit assignment, reviewers' fixes, and the audit log."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from app.models import (
    Assignment,
    AssignmentState,
    AuditEvent,
    Observation,
    Project,
    ProjectRole,
    Revision,
    TaskState,
    User,
)
from app.services import workflow
from tests.world import LEASE, add_member, make_project, make_task, make_user, square

ClientFor = Callable[[User | None], TestClient]


class Team:
    def __init__(
        self, db_session: Session, app: FastAPI, tmp: Path, client_for: ClientFor, **project: int
    ) -> None:
        self.session = db_session
        self.project = make_project(db_session, "flow", **project)
        self.admin, self.reviewer = make_user(db_session, "admin"), make_user(db_session, "reviewer")
        self.annotators = [make_user(db_session, f"ann{i}") for i in range(3)]
        add_member(db_session, self.project, self.admin, ProjectRole.ADMIN)
        add_member(db_session, self.project, self.reviewer, ProjectRole.REVIEWER)
        for annotator in self.annotators:
            add_member(db_session, self.project, annotator, ProjectRole.ANNOTATOR)
        self.storage, self.tmp, self.client_for = app.state.storage, tmp, client_for

    def task(self, index: int = 0) -> Observation:
        return make_task(self.session, self.storage, self.project, self.tmp, index=index)

    def as_(self, user: User) -> TestClient:
        return self.client_for(user)

    def next(self, user: User) -> dict[str, object]:
        response = self.as_(user).post(f"/api/projects/{self.project.id}/tasks/next")
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    def state(self, task: Observation) -> str:
        self.session.expire_all()
        return self.session.get(Observation, task.id).task_state.value  # type: ignore[union-attr]


@pytest.fixture
def team(db_session: Session, app: FastAPI, tmp_path: Path, client_for: ClientFor) -> Team:
    return Team(db_session, app, tmp_path, client_for)


def put_in_state(team: Team, task: Observation, state: TaskState, annotator: User) -> None:
    """The task in ``state``, with the annotator's assignment as that state implies."""
    if state != TaskState.NEW:
        assignment_state = (
            AssignmentState.IN_PROGRESS if state == TaskState.IN_PROGRESS else AssignmentState.SUBMITTED
        )
        team.session.add(Assignment(project_id=task.project_id, observation_id=task.id, user_id=annotator.id,
                                    state=assignment_state))  # fmt: skip
    team.session.execute(update(Observation).where(Observation.id == task.id).values(task_state=state))
    team.session.commit()


# action -> (who calls it, the state it leads to)
TRANSITIONS = {
    "submit": ("annotator", TaskState.SUBMITTED),
    "approve": ("reviewer", TaskState.APPROVED),
    "reject": ("reviewer", TaskState.REJECTED),
    "rework": ("annotator", TaskState.IN_PROGRESS),
    "release": ("annotator", TaskState.NEW),
    "reopen": ("admin", TaskState.SUBMITTED),
}


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("state", list(TaskState))
def test_every_transition_from_every_state(team: Team, action: str, state: TaskState) -> None:
    task, annotator = team.task(), team.annotators[0]
    put_in_state(team, task, state, annotator)
    caller, target = TRANSITIONS[action]
    user = {"annotator": annotator, "reviewer": team.reviewer, "admin": team.admin}[caller]
    events_before = team.session.scalar(select(func.count()).select_from(AuditEvent))
    body = {"comment": "The pit's south rim is missing."} if action == "reject" else None
    response = team.as_(user).post(f"/api/observations/{task.id}/task/{action}", json=body)

    if state in workflow.ALLOWED_FROM[action]:
        assert response.status_code == 200, response.text
        assert response.json()["state"] == target.value == team.state(task)
        event = team.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
        assert (event.action, event.actor_id, event.from_state, event.to_state) == (
            action, user.id, state.value, target.value,
        )  # fmt: skip
    elif state == TaskState.NEW and caller == "annotator":
        # Nothing is assigned yet, so the annotator is refused before any state is considered.
        assert response.status_code == 403, response.text
    else:
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "transition_not_allowed"
        assert f"Cannot {action} this task" in response.json()["detail"]
        assert team.state(task) == state.value
        assert team.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before


def test_a_full_round_with_rework_is_in_the_audit_log(team: Team) -> None:
    task, annotator = team.task(), team.annotators[0]
    handout = team.next(annotator)
    assert handout["task"]["observation_id"] == str(task.id)  # type: ignore[index]
    url = f"/api/observations/{task.id}/task"
    assert team.as_(annotator).post(f"{url}/submit").json()["state"] == "submitted"
    queue = team.as_(team.reviewer).get(f"/api/projects/{team.project.id}/review-queue").json()
    assert [t["observation_id"] for t in queue["items"]] == [str(task.id)]
    rejected = team.as_(team.reviewer).post(
        f"{url}/reject", json={"comment": "Outline too tight", "point": [5, 5]}
    )
    assert rejected.json()["state"] == "rejected" and rejected.json()["open_comments"] == 1
    assert (
        team.as_(team.reviewer).post(f"{url}/reject", json={"comment": " "}).status_code == 409
    )  # not submitted

    back = team.next(annotator)  # a rejected task comes back first, in progress again
    assert back["resumed"] is True and back["task"]["state"] == "in_progress"  # type: ignore[index]
    assert team.as_(annotator).post(f"{url}/submit").json()["state"] == "submitted"
    assert team.as_(team.reviewer).post(f"{url}/approve").json()["state"] == "approved"

    log = team.as_(team.admin).get(f"{url}/audit").json()
    assert [(e["action"], e["from_state"], e["to_state"]) for e in log] == [
        ("start", "new", "in_progress"),
        ("submit", "in_progress", "submitted"),
        ("reject", "submitted", "rejected"),
        ("rework", "rejected", "in_progress"),
        ("submit", "in_progress", "submitted"),
        ("approve", "submitted", "approved"),
    ]
    actors = [e["actor_id"] for e in log]
    assert actors == [
        str(u.id) for u in [annotator, annotator, team.reviewer, annotator, annotator, team.reviewer]
    ]
    assert team.next(annotator)["task"] is None  # nothing left


def test_a_reject_needs_a_comment(team: Team) -> None:
    task, annotator = team.task(), team.annotators[0]
    put_in_state(team, task, TaskState.SUBMITTED, annotator)
    response = team.as_(team.reviewer).post(
        f"/api/observations/{task.id}/task/reject", json={"comment": "  "}
    )
    assert response.status_code == 422 and "needs text" in response.json()["detail"]
    assert team.state(task) == "submitted"


def test_next_task_resumes_then_follows_the_series(team: Team) -> None:
    first, second = team.task(0), team.task(1)
    annotator = team.annotators[0]
    assert team.next(annotator)["task"]["observation_id"] == str(first.id)  # type: ignore[index]
    again = team.next(annotator)
    assert again["resumed"] is True and again["task"]["observation_id"] == str(first.id)  # type: ignore[index]
    team.as_(annotator).post(f"/api/observations/{first.id}/task/submit")
    assert team.next(annotator)["task"]["observation_id"] == str(second.id)  # type: ignore[index]


def test_a_task_is_locked_until_its_lease_expires(team: Team) -> None:
    task = team.task()
    a, b = team.annotators[0], team.annotators[1]
    annotation_id = team.next(a)["annotation_id"]
    assert team.next(b)["task"] is None  # the only task is a's

    team.session.execute(
        update(Assignment)
        .where(Assignment.user_id == a.id)
        .values(lease_expires_at=datetime.now(UTC) - timedelta(1))
    )
    team.session.commit()
    handout = team.next(b)
    assert handout["task"]["observation_id"] == str(task.id)  # type: ignore[index]
    assert [x["user_id"] for x in handout["task"]["assignments"]] == [str(b.id)]  # type: ignore[index]
    # a's work is kept, but a may no longer change it: the task is b's now.
    save = team.as_(a).put(f"/api/annotations/{annotation_id}", json={"version": 1, "regions": []})
    assert save.status_code == 403, save.text
    actions = team.session.scalars(
        select(AuditEvent.action).where(AuditEvent.observation_id == task.id)
    ).all()
    assert actions == ["start", "lease_expired", "start"]


def test_a_lease_is_renewed_by_a_heartbeat(team: Team) -> None:
    task, annotator = team.task(), team.annotators[0]
    team.next(annotator)
    soon = datetime.now(UTC) + timedelta(seconds=5)
    team.session.execute(update(Assignment).values(lease_expires_at=soon))
    team.session.commit()
    renewed = team.as_(annotator).post(f"/api/observations/{task.id}/task/lease").json()
    expires = datetime.fromisoformat(renewed["assignments"][0]["lease_expires_at"])
    assert expires > datetime.now(UTC) + LEASE - timedelta(minutes=1) or expires > soon + timedelta(
        minutes=10
    )


def test_overlap_gives_each_task_to_n_annotators(db_session: Session, app: FastAPI, tmp_path: Path,
                                                 client_for: ClientFor) -> None:  # fmt: skip
    team = Team(db_session, app, tmp_path, client_for, annotators_per_task=2)
    first, second = team.task(0), team.task(1)
    a, b, c = team.annotators
    assert team.next(a)["task"]["observation_id"] == str(first.id)  # type: ignore[index]
    assert team.next(b)["task"]["observation_id"] == str(first.id)  # type: ignore[index]
    assert team.next(c)["task"]["observation_id"] == str(second.id)  # type: ignore[index]
    url = f"/api/observations/{first.id}/task"
    assert team.as_(a).post(f"{url}/submit").json()["state"] == "in_progress"  # waits for b
    again = team.as_(a).post(f"{url}/submit")
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert team.as_(b).post(f"{url}/submit").json()["state"] == "submitted"
    # Each annotator has an annotation of their own.
    annotations = {x["annotation_id"] for x in team.as_(team.admin).get(url).json()["assignments"]}
    assert len(annotations) == 2 and None not in annotations


def test_admins_assign_explicitly(team: Team) -> None:
    task = team.task()
    a, b = team.annotators[0], team.annotators[1]
    url = f"/api/observations/{task.id}/task/assign"
    assigned = team.as_(team.admin).post(url, json={"user_id": str(a.id)})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignments"][0]["lease_expires_at"] is None  # no expiry for an admin's choice
    assert team.next(a)["task"]["observation_id"] == str(task.id)  # type: ignore[index]
    full = team.as_(team.admin).post(url, json={"user_id": str(b.id)})
    assert full.status_code == 409 and "annotators_per_task" in full.json()["detail"]
    reviewer = team.as_(team.admin).post(url, json={"user_id": str(team.reviewer.id)})
    assert reviewer.status_code == 422 and "not an annotator or admin" in reviewer.json()["detail"]
    assert [x.user_id for x in team.session.scalars(select(Assignment))] == [a.id]  # nothing added
    assert team.as_(b).post(url, json={"user_id": str(b.id)}).status_code == 403


def test_a_reviewer_fixes_regions_during_review_and_history_keeps_both(team: Team) -> None:
    task, annotator = team.task(), team.annotators[0]
    annotation_id = team.next(annotator)["annotation_id"]
    url = f"/api/annotations/{annotation_id}"
    drawn = team.as_(annotator).put(
        url, json={"version": 1, "regions": [{"label": "Pit", "geometry": square(10, 10, 40)}]}
    )
    assert drawn.status_code == 200, drawn.text
    region_id = drawn.json()["regions"][0]["id"]
    early = team.as_(team.reviewer).put(url, json={"version": 2, "regions": []})
    assert early.status_code == 403  # not submitted yet: the annotator is still at work
    team.as_(annotator).post(f"/api/observations/{task.id}/task/submit")
    late = team.as_(annotator).put(url, json={"version": 2, "regions": []})
    assert late.status_code == 403  # submitted work waits for review

    fixed_shape = {"id": region_id, "label": "Pit", "geometry": square(10, 10, 45)}
    fixed = team.as_(team.reviewer).put(url, json={"version": 2, "regions": [fixed_shape]})
    assert fixed.status_code == 200, fixed.text
    revisions = team.session.scalars(
        select(Revision).where(Revision.annotation_id == uuid.UUID(annotation_id)).order_by(Revision.id)  # type: ignore[arg-type]
    ).all()
    by = [(r.action.value, r.user_id) for r in revisions]
    assert by == [("create", annotator.id), ("create", annotator.id), ("update", team.reviewer.id)]
    assert (
        revisions[1].after is not None and revisions[2].before == revisions[1].after
    )  # the annotator's kept


@pytest.fixture
def committed_team(engine: Engine) -> Iterator[tuple[Project, list[uuid.UUID], list[uuid.UUID]]]:
    """Twelve tasks and eight annotators committed for real, for concurrent sessions; removed afterwards."""
    with Session(engine, expire_on_commit=False) as session:
        project = make_project(session, "race")
        users = [make_user(session, f"racer{i}") for i in range(8)]
        for user in users:
            add_member(session, project, user, ProjectRole.ANNOTATOR)
        tasks = [make_task(session, None, project, Path("/nonexistent"), index=i).id for i in range(12)]  # type: ignore[arg-type]
    yield project, [u.id for u in users], tasks
    with Session(engine) as session:
        session.execute(delete(Project).where(Project.id == project.id))
        session.execute(delete(User).where(User.id.in_([u.id for u in users])))
        session.commit()


def test_concurrent_annotators_never_get_the_same_task(
    engine: Engine, committed_team: tuple[Project, list[uuid.UUID], list[uuid.UUID]]
) -> None:
    project, user_ids, _ = committed_team
    handed: dict[uuid.UUID, uuid.UUID | None] = {}
    start = threading.Barrier(len(user_ids))

    def take(user_id: uuid.UUID) -> None:
        with Session(engine, expire_on_commit=False) as session:
            start.wait()
            handout = workflow.next_task(session, session.get(Project, project.id), user_id, LEASE)  # type: ignore[arg-type]
            handed[user_id] = handout.task.id if handout else None

    threads = [threading.Thread(target=take, args=(u,)) for u in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    got = list(handed.values())
    assert None not in got and len(set(got)) == len(user_ids)
