"""Cross-project access by id and role escalation, against real PostGIS."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ProjectMember, ProjectRole, User
from tests.world import World, add_member, build_world, make_task

ClientFor = Callable[[User | None], TestClient]


@pytest.fixture
def world(db_session: Session, app: FastAPI, tmp_path: Path) -> World:
    return build_world(db_session, app.state.storage, tmp_path, real_image=True)


def test_members_of_another_project_get_404_for_everything_of_this_one(
    world: World, client_for: ClientFor
) -> None:
    outsider = client_for(world.outsider)  # admin of the other project: powerful there, nobody here
    task = world.task.id
    for path in [
        f"/api/projects/{world.project.id}",
        f"/api/projects/{world.project.id}/tasks",
        f"/api/observations/{task}",
        f"/api/observations/{task}/task",
        f"/api/observations/{task}/thumbnail",
        f"/api/observations/{task}/tiles/pixel/0/0/0.png",
        f"/api/observations/{task}/annotations",
        f"/api/observations/{task}/annotations/stream",
        f"/api/annotations/{world.annotation_id}",
        f"/api/regions/{world.region.id}",
        f"/api/observations/{task}/comments",
    ]:
        response = outsider.get(path)
        assert response.status_code == 404, path
        # The same answer as for an id that does not exist: nothing tells that it does.
        missing = outsider.get(
            path.replace(str(world.project.id), str(uuid.uuid4())).replace(str(task), str(uuid.uuid4()))
        )
        assert missing.status_code == 404
        assert (
            response.json()["detail"].split(" with id ")[0] == missing.json()["detail"].split(" with id ")[0]
        )
    assert outsider.post(f"/api/observations/{task}/task/approve").status_code == 404
    assert (
        outsider.put(
            f"/api/projects/{world.project.id}/members/{world.outsider.id}", json={"role": "admin"}
        ).status_code
        == 404
    )
    listed = outsider.get("/api/projects").json()
    assert [p["id"] for p in listed] == [str(world.other_project.id)]


def test_the_same_user_in_two_projects_sees_each_only_through_its_role(
    world: World, client_for: ClientFor, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    add_member(db_session, world.other_project, world.annotator, ProjectRole.ADMIN)
    other_task = make_task(db_session, app.state.storage, world.other_project, tmp_path)
    annotator = client_for(world.annotator)
    # Admin there: may approve there; annotator here: may not approve here.
    assert annotator.get(f"/api/projects/{world.other_project.id}/audit").status_code == 200
    assert annotator.post(f"/api/observations/{world.task.id}/task/approve").status_code == 403
    assert annotator.get(f"/api/observations/{other_task.id}").status_code == 200
    roles = {m["project_id"]: m["role"] for m in annotator.get("/api/auth/me").json()["memberships"]}
    assert roles == {str(world.project.id): "annotator", str(world.other_project.id): "admin"}


def test_annotators_cannot_escalate(world: World, client_for: ClientFor) -> None:
    annotator = client_for(world.annotator)
    project = world.project.id
    approve = annotator.post(f"/api/observations/{world.task.id}/task/approve")
    assert approve.status_code == 403 and "annotator" in approve.json()["detail"]
    promote = annotator.put(f"/api/projects/{project}/members/{world.annotator.id}", json={"role": "admin"})
    assert promote.status_code == 403
    assert (
        annotator.patch(f"/api/projects/{project}", json={"annotators_see_others": True}).status_code == 403
    )
    assert (
        annotator.post("/api/users", json={"email": "x@y.z", "password": "long enough pw"}).status_code == 403
    )
    assert annotator.patch(f"/api/users/{world.annotator.id}", json={"is_admin": True}).status_code == 403
    assert annotator.get("/api/auth/me").json()["user"]["is_admin"] is False


def test_drafts_are_private_unless_the_project_shares_them(
    world: World, client_for: ClientFor, db_session: Session
) -> None:
    other = client_for(world.other_annotator)
    annotation = f"/api/annotations/{world.annotation_id}"
    regions = f"/api/observations/{world.task.id}/regions?bbox=0,0,200,200"
    refused = other.get(annotation)
    assert refused.status_code == 403 and "another annotator" in refused.json()["detail"]
    assert other.get(f"/api/regions/{world.region.id}").status_code == 403
    assert other.get(f"/api/observations/{world.task.id}/annotations").json() == []
    streamed = other.get(f"/api/observations/{world.task.id}/annotations/stream").text.splitlines()
    assert [json.loads(line) for line in streamed] == [{"end": {"annotations": 0, "regions": 0}}]
    assert other.get(regions).json()["features"] == []
    # The owner and the reviewer see it.
    assert client_for(world.annotator).get(annotation).status_code == 200
    assert len(client_for(world.reviewer).get(regions).json()["features"]) == 1

    shared = client_for(world.admin).patch(
        f"/api/projects/{world.project.id}", json={"annotators_see_others": True}
    )
    assert shared.status_code == 200 and shared.json()["annotators_see_others"] is True
    assert other.get(annotation).status_code == 200
    assert len(other.get(f"/api/observations/{world.task.id}/annotations").json()) == 1
    streamed = other.get(f"/api/observations/{world.task.id}/annotations/stream").text.splitlines()
    assert json.loads(streamed[-1]) == {"end": {"annotations": 1, "regions": 1}}
    assert len(other.get(regions).json()["features"]) == 1
    # Seeing is not editing.
    edit = other.put(annotation, json={"version": 2, "regions": []})
    assert edit.status_code == 403


def test_the_last_admin_cannot_be_removed(world: World, client_for: ClientFor) -> None:
    admin = client_for(world.admin)
    url = f"/api/projects/{world.project.id}/members/{world.admin.id}"
    assert admin.put(url, json={"role": "reviewer"}).status_code == 409
    assert admin.delete(url).status_code == 409
    added = admin.put(
        f"/api/projects/{world.project.id}/members/{world.outsider.id}", json={"role": "annotator"}
    )
    assert added.status_code == 200 and added.json()["role"] == "annotator"
    assert client_for(world.outsider).get(f"/api/observations/{world.task.id}").status_code == 200


def test_an_unknown_user_cannot_be_made_a_member(
    world: World, client_for: ClientFor, db_session: Session
) -> None:
    before = db_session.scalar(select(func.count()).select_from(ProjectMember))
    missing = uuid.uuid4()
    response = client_for(world.admin).put(
        f"/api/projects/{world.project.id}/members/{missing}", json={"role": "annotator"}
    )
    assert response.status_code == 422 and f"No user with id {missing}" in response.json()["detail"]
    assert db_session.scalar(select(func.count()).select_from(ProjectMember)) == before
