"""Size limits on what one request may carry: a body limit per route (413 naming its setting, before the
body is parsed) and a total-vertices limit per annotation (422 naming its setting); nothing is stored."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import LimitSettings, Settings, StorageSettings
from app.main import create_app
from app.models import Project, Region
from tests.world import World, build_world, square

LIMITS = LimitSettings(max_body_bytes=4096, max_annotation_body_bytes=64 * 1024, max_annotation_vertices=60)


@pytest.fixture
def small_app(settings: Settings, session_factory: sessionmaker[Session], files_dir: Path) -> FastAPI:
    limited = settings.model_copy(update={"storage": StorageSettings(data_dir=files_dir), "limits": LIMITS})
    return create_app(limited, session_factory=session_factory)


@pytest.fixture
def world(small_app: FastAPI, db_session: Session, tmp_path: Path) -> World:
    return build_world(db_session, small_app.state.storage, tmp_path)


@pytest.fixture
def annotator(small_app: FastAPI, world: World) -> Iterator[TestClient]:
    with TestClient(small_app, headers={"Authorization": f"Token {world.keys['annotator']}"}) as client:
        yield client


def polygon(vertices: int, cx: float = 60, cy: float = 60, r: float = 30) -> dict[str, Any]:
    points = [
        [cx + r * math.cos(2 * math.pi * i / vertices), cy + r * math.sin(2 * math.pi * i / vertices)]
        for i in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*points, points[0]]]}


def _count(session: Session, model: type[Project] | type[Region]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _assert_413(response: Any, setting: str) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["code"] == "body_too_large" and body["setting"] == setting
    assert setting in body["detail"]


def test_a_body_over_the_default_limit_is_a_413_naming_it_and_stores_nothing(
    small_app: FastAPI, world: World, db_session: Session
) -> None:
    before = _count(db_session, Project)
    headers = {"Authorization": f"Token {world.keys['site_admin']}"}
    with TestClient(small_app, headers=headers) as client:
        response = client.post("/api/projects", json={"name": "big", "description": "x" * 5000})
    _assert_413(response, "LIMITS__MAX_BODY_BYTES")
    assert _count(db_session, Project) == before


def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(small_app: FastAPI, world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "description": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    headers = {"Authorization": f"Token {world.keys['site_admin']}", "Content-Type": "application/json"}
    with TestClient(small_app, headers=headers) as client:
        response = client.post("/api/projects", content=chunks())
    _assert_413(response, "LIMITS__MAX_BODY_BYTES")


def test_a_save_has_its_own_larger_limit(annotator: TestClient, world: World, db_session: Session) -> None:
    # Padded past the default limit (4 KB) but under the save's (64 KB).
    body = {"version": 2, "regions": [{"label": "Pit", "geometry": polygon(50)}]}
    assert len(json.dumps(body)) > 1000
    padded = json.dumps(body) + " " * 4000
    url = f"/api/annotations/{world.annotation_id}"
    response = annotator.put(url, content=padded, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text

    before = _count(db_session, Region)
    huge = json.dumps({"version": 3, "regions": [{"label": "Pit", "geometry": square(1, 1, 5)}]})
    response = annotator.put(
        f"/api/annotations/{world.annotation_id}",
        content=huge + " " * (64 * 1024),
        headers={"Content-Type": "application/json"},
    )
    _assert_413(response, "LIMITS__MAX_ANNOTATION_BODY_BYTES")
    assert _count(db_session, Region) == before


def test_an_annotation_over_the_total_vertices_limit_is_a_422_naming_it(
    annotator: TestClient, world: World, db_session: Session
) -> None:
    before = _count(db_session, Region)
    # Each region is far under LIMITS__MAX_POLYGON_VERTICES; together they pass the annotation's 60.
    regions = [
        {"label": "Pit", "geometry": polygon(35, cx=40)},
        {"label": "Pit", "geometry": polygon(35, cx=120)},
    ]
    url = f"/api/annotations/{world.annotation_id}"
    response = annotator.put(url, json={"version": 2, "regions": regions})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "annotation_too_large" and body["setting"] == "LIMITS__MAX_ANNOTATION_VERTICES"
    assert body["vertices"] == 72 and "LIMITS__MAX_ANNOTATION_VERTICES" in body["detail"]
    assert _count(db_session, Region) == before


def test_adding_a_region_counts_the_annotation_s_other_regions(
    annotator: TestClient, world: World, db_session: Session
) -> None:
    # The world's annotation has one 5-vertex square; 56 more pass 60 only together with it.
    before = _count(db_session, Region)
    response = annotator.post(
        f"/api/annotations/{world.annotation_id}/regions",
        json={"version": 2, "label": "Pit", "geometry": polygon(55, cx=120)},
    )
    assert response.status_code == 422, response.text
    assert response.json()["setting"] == "LIMITS__MAX_ANNOTATION_VERTICES"
    assert _count(db_session, Region) == before
