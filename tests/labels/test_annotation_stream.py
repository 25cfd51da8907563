"""Opening a task as a stream of lines (`GET /api/observations/{id}/annotations/stream`, NDJSON) on real
PostGIS: the same annotations, regions and warnings as the task's list, in pages, closed by an `end` line
with the counts, and all of one snapshot while saves go on."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.models import Observation, Project
from tests.labels.test_annotation_changes import region
from tests.labels.test_annotations_api import add_observation, create, observation, square

__all__ = ["observation"]  # the fixture, shared


def lines(client: TestClient, observation: Observation, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/observations/{observation.id}/annotations/stream", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def assembled(streamed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The task's list as the lines hold it (what the browser builds from them)."""
    annotations: list[dict[str, Any]] = []
    for line in streamed:
        assert len(line) == 1, line  # one field a line
        if "annotation" in line:
            assert line["annotation"]["regions"] == [] and line["annotation"]["warnings"] == []
            annotations.append(line["annotation"])
        elif "regions" in line:
            annotations[-1]["regions"] = annotations[-1]["regions"] + line["regions"]
        elif "warnings" in line:
            annotations[-1]["warnings"] = line["warnings"]
    return annotations


def test_the_stream_holds_the_task_list_in_pages_and_ends_with_the_counts(
    client: TestClient, observation: Observation
) -> None:
    outline = region("Outline", 0, 0, 300)
    body = [
        outline,
        region("Pit", 400, 400, 50),
        region("Pit", 10, 10, 100),
        region("Infrastructure", 50, 50, 100),
    ]
    body.append(region("Pit", 20, 200, 30))
    assert create(client, observation, body).status_code == 201
    listed = client.get(f"/api/observations/{observation.id}/annotations").json()
    assert len(listed[0]["regions"]) == 5 and len(listed[0]["warnings"]) == 2

    streamed = lines(client, observation, page_size=2)
    kinds = [next(iter(line)) for line in streamed]
    assert kinds == ["annotation", "regions", "regions", "regions", "warnings", "end"]
    assert [len(line["regions"]) for line in streamed if "regions" in line] == [2, 2, 1]
    assert streamed[-1] == {"end": {"annotations": 1, "regions": 5}}
    assert assembled(streamed) == listed  # the same objects, in the same order (regions oldest first)
    # In pixels only, as the labeling view asks: the EPSG:4326 copies are null, nothing else changes.
    pixels = client.get(f"/api/observations/{observation.id}/annotations", params={"wgs84": "false"}).json()
    assert listed[0]["regions"][0]["properties"]["geometry_wgs84"] is not None
    assert assembled(lines(client, observation, wgs84="false")) == pixels
    # One page when they fit (the default page is 1,000 regions).
    assert [next(iter(line)) for line in lines(client, observation)] == [
        "annotation",
        "regions",
        "warnings",
        "end",
    ]


def test_an_annotation_without_regions_and_a_task_without_annotations(
    client: TestClient, observation: Observation
) -> None:
    assert lines(client, observation) == [{"end": {"annotations": 0, "regions": 0}}]
    created = create(client, observation, []).json()
    streamed = lines(client, observation)
    assert [next(iter(line)) for line in streamed] == ["annotation", "regions", "warnings", "end"]
    assert streamed[0]["annotation"]["id"] == created["id"] and streamed[1] == {"regions": []}
    assert streamed[-1] == {"end": {"annotations": 1, "regions": 0}}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"page_size": 0}, "page_size"), ({"page_size": 5001}, "page_size"), ({"wgs84": "x"}, "wgs84")],
)
def test_bad_stream_options_get_422_naming_the_option(
    client: TestClient, observation: Observation, params: dict[str, Any], field: str
) -> None:
    response = client.get(f"/api/observations/{observation.id}/annotations/stream", params=params)
    assert response.status_code == 422 and field in response.text


def test_a_task_that_does_not_exist_is_404(client: TestClient) -> None:
    response = client.get(f"/api/observations/{uuid.uuid4()}/annotations/stream")
    assert response.status_code == 404 and "observation" in response.json()["detail"].lower()


def test_every_stream_is_one_state_of_the_task_while_saves_go_on(
    committing_client: TestClient, committing_app: FastAPI, engine: Engine, committed_admin_key: str
) -> None:
    """On the committing app (its own connections, as in production): saves that move every region at once
    run while the task is streamed in pages of one region. Each stream holds one version's regions (all
    moved or none) with that version's number and warnings, never a mix."""
    project = committing_client.post(
        "/api/projects", json={"name": "stream-snapshot", "description": ""}
    ).json()
    with Session(engine, expire_on_commit=False) as session:
        observation = add_observation(session, session.get(Project, uuid.UUID(project["id"])))
    body = [region("Outline", 0, 0, 600), *(region("Pit", 20 * i, 10, 10) for i in range(1, 30))]
    created = create(committing_client, observation, body).json()
    url, stop = f"/api/annotations/{created['id']}", threading.Event()
    saved: list[int] = []
    # Its own client: the saves run beside the streams, not after them.
    saver_client = TestClient(committing_app, headers={"Authorization": f"Token {committed_admin_key}"})

    def pits_at(y: float) -> list[dict[str, Any]]:
        return [body[0], *(r | {"geometry": square(20 * i, y, 10)} for i, r in enumerate(body[1:], start=1))]

    def save_again() -> None:
        version = created["version"]
        while not stop.is_set():
            # Odd versions have their pits at y = 10 inside the Outline, even ones at y = 700 outside it.
            answer = saver_client.put(
                url, json={"version": version, "regions": pits_at(10 if version % 2 == 0 else 700)}
            )
            assert answer.status_code == 200, answer.text
            version = answer.json()["version"]
            saved.append(version)

    saver = threading.Thread(target=save_again)
    saver.start()
    try:
        seen = set()
        for _ in range(8):
            (annotation,) = assembled(lines(committing_client, observation, page_size=1))
            version = annotation["version"]
            ys = {
                r["geometry"]["coordinates"][0][0][0][1]
                for r in annotation["regions"]
                if r["properties"]["label"] == "Pit"
            }
            assert len(annotation["regions"]) == len(body)
            assert ys == {10 if version % 2 else 700}, (version, ys)
            outside = {w["region_id"] for w in annotation["warnings"]}
            assert len(outside) == (0 if version % 2 else len(body) - 1), version
            seen.add(version)
    finally:
        stop.set()
        saver.join()
    assert len(saved) >= 2 and len(seen) >= 2  # the saves did run while it was streamed
