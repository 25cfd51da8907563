"""The task list's filters (what the browser's task list asks for): state, site, assignee, acquisition
dates, paging; a date range that ends before it starts is a 422."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import ProjectRole, User
from app.services import workflow
from tests.world import LEASE, add_member, make_project, make_task, make_user

ClientFor = Callable[[User | None], TestClient]


def test_filters_and_paging(db_session: Session, app: FastAPI, tmp_path: Path, client_for: ClientFor) -> None:
    project = make_project(db_session, "list")
    reviewer, annotator = make_user(db_session, "reviewer"), make_user(db_session, "ann")
    add_member(db_session, project, reviewer, ProjectRole.REVIEWER)
    add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    storage = app.state.storage
    dates = [date(2021, 1, 15), date(2021, 4, 15), date(2021, 7, 15)]
    tasks = [make_task(db_session, storage, project, tmp_path, site="A", index=i) for i in range(3)]
    tasks.append(make_task(db_session, storage, project, tmp_path, site="B", index=0))
    for task, acquired in zip(tasks, [*dates, dates[1]], strict=True):
        task.acquired_on = acquired
    db_session.commit()
    handout = workflow.next_task(db_session, project, annotator.id, LEASE)  # takes site A's first
    assert handout is not None
    db_session.commit()

    client = client_for(reviewer)
    url = f"/api/projects/{project.id}/tasks"

    def names(**params: str | list[str]) -> list[str]:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        return [f"{t['site_name']}{t['index']}" for t in response.json()["items"]]

    assert names() == ["A0", "A1", "A2", "B0"]
    assert names(state="in_progress") == ["A0"]
    assert names(state=["new", "in_progress"]) == ["A0", "A1", "A2", "B0"]
    assert names(site_id=str(tasks[3].site_id)) == ["B0"]
    assert names(assignee=str(annotator.id)) == ["A0"]
    assert names(acquired_from="2021-04-01") == ["A1", "A2", "B0"]
    assert names(acquired_to="2021-04-15") == ["A0", "A1", "B0"]
    assert names(acquired_from="2021-04-01", acquired_to="2021-05-01", site_id=str(tasks[0].site_id)) == [
        "A1"
    ]
    page = client.get(url, params={"limit": 2, "offset": 2}).json()
    assert [t["index"] for t in page["items"]] == [2, 0] and page["total"] == 4

    backwards = client.get(url, params={"acquired_from": "2021-05-01", "acquired_to": "2021-04-01"})
    assert backwards.status_code == 422
    assert "is after acquired_to" in backwards.json()["detail"]
