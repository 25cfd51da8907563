"""`GET /api/observations/{id}/approved-regions`: what "copy regions from the previous observation" starts
from. Only an approved task has any, and every member may read them, also an annotator of a project that
keeps drafts private."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import User
from tests.world import build_world

ClientFor = Callable[[User | None], TestClient]


def test_only_an_approved_task_has_approved_regions(
    db_session: Session, app: FastAPI, tmp_path: Path, client_for: ClientFor
) -> None:
    world = build_world(db_session, app.state.storage, tmp_path)
    url = f"/api/observations/{world.task.id}/approved-regions"
    other_annotator = client_for(world.other_annotator)

    in_progress = other_annotator.get(url)
    assert in_progress.status_code == 200, in_progress.text
    assert in_progress.json()["features"] == []

    submitted = client_for(world.annotator).post(f"/api/observations/{world.task.id}/task/submit")
    assert submitted.status_code == 200, submitted.text
    approved = client_for(world.reviewer).post(f"/api/observations/{world.task.id}/task/approve")
    assert approved.status_code == 200, approved.text

    # The other annotator may not read the draft itself (the project keeps drafts private) ...
    assert other_annotator.get(f"/api/annotations/{world.annotation_id}").status_code == 403
    # ... but the approved regions are the project's ground truth.
    answer = other_annotator.get(url)
    assert answer.status_code == 200, answer.text
    (feature,) = answer.json()["features"]
    assert feature["id"] == str(world.region.id)
    assert feature["properties"]["label"] == "Pit"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["area_px"] == 2500


def test_an_outsider_gets_404(
    db_session: Session, app: FastAPI, tmp_path: Path, client_for: ClientFor
) -> None:
    world = build_world(db_session, app.state.storage, tmp_path)
    answer = client_for(world.outsider).get(f"/api/observations/{world.task.id}/approved-regions")
    assert answer.status_code == 404
