"""Steps of a training round through the API, shared by the retraining tests and the Models page's browser
test: a project, synthetic scenes uploaded (tests/training/synthetic.py), every task labeled with the
scene's shapes and approved."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.jobs import wait_for_job
from tests.training.synthetic import Scene, geojson, write_scene


def new_project(client: TestClient) -> str:
    project = client.post("/api/projects", json={"name": f"retrain-{uuid.uuid4().hex[:6]}"})
    assert project.status_code == 201, project.text
    return str(project.json()["id"])


def upload(client: TestClient, project_id: str, scenes: dict[str, Scene], tmp: Path) -> list[dict[str, Any]]:
    files = []
    for name, scene in scenes.items():
        write_scene(tmp / name, scene)
        files.append(("files", (name, (tmp / name).read_bytes(), "image/tiff")))
    response = client.post(f"/api/projects/{project_id}/images", files=files)
    assert response.status_code == 202, response.text
    wait_for_job(client, response.json()["job"]["id"])
    observations: list[dict[str, Any]] = response.json()["observations"]
    return observations


def label_next(client: TestClient, project_id: str, scenes: dict[str, Scene]) -> bool:
    """Label, submit and approve the task next task hands out; False when none is left."""
    handout = client.post(f"/api/projects/{project_id}/tasks/next").json()
    if handout["task"] is None:
        return False
    scene = scenes[handout["task"]["original_filename"]]
    regions = [{"label": label, "geometry": geojson(polygon)} for label, polygon in scene.shapes]
    saved = client.put(
        f"/api/annotations/{handout['annotation_id']}", json={"version": 1, "regions": regions}
    )
    assert saved.status_code == 200, saved.text
    task = handout["task"]["observation_id"]
    assert client.post(f"/api/observations/{task}/task/submit").status_code == 200
    approved = client.post(f"/api/observations/{task}/task/approve")
    assert approved.status_code == 200, approved.text
    return True


def label_everything(client: TestClient, project_id: str, scenes: dict[str, Scene]) -> None:
    """Label and approve every task, in next task's order."""
    while label_next(client, project_id, scenes):
        pass
