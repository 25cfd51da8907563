"""PostgreSQL stopped and started again under saves: every request meanwhile gets a JSON 503
(`database_unavailable`, Retry-After), and a save sent again after the restart is stored exactly once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.core.config import DatabaseSettings, RedisSettings, Settings, StorageSettings
from app.core.migrations import upgrade
from app.devstack.throwaway import RunningServices, running_services
from app.main import create_app
from app.models import Annotation, Region
from tests.world import World, build_world, square


@pytest.fixture(scope="module")
def own_services() -> Iterator[RunningServices]:
    """A PostgreSQL of this module's own, so that stopping it stops nobody else's tests."""
    with running_services("minelabel-dbdown-") as running:
        running.postgres.ensure_database("dbdown")
        upgrade(running.db_url("dbdown"))
        yield running


def _save(client: TestClient, world: World, version: int, key: str, x: float) -> Any:
    body: dict[str, Any] = {"version": version, "regions": [{"label": "Pit", "geometry": square(x, 10, 20)}]}
    return client.put(f"/api/annotations/{world.annotation_id}", json=body, headers={"Idempotency-Key": key})


def _until_up(send: Any) -> Any:
    """Send again while the answer is 503, as a client honouring Retry-After would (a bounded number)."""
    for _ in range(50):
        response = send()
        if response.status_code != 503:
            return response
        time.sleep(0.2)
    raise AssertionError("the API still answers 503 after the database came back")


def test_requests_while_postgres_is_down_get_a_json_503_and_saves_land_once(
    own_services: RunningServices, tmp_path: Path
) -> None:
    url = own_services.db_url("dbdown")
    settings = Settings(
        db=DatabaseSettings(url=url),
        redis=RedisSettings(url=own_services.redis.url),
        storage=StorageSettings(data_dir=tmp_path / "files"),
    )
    app = create_app(settings)
    engine = create_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        world = build_world(session, app.state.storage, tmp_path)
        session.commit()
    headers = {"Authorization": f"Token {world.keys['annotator']}"}
    with TestClient(app, headers=headers) as client:
        first = _save(client, world, 2, f"save-{uuid.uuid4()}", 10)
        assert first.status_code == 200, first.text
        version = first.json()["version"]

        own_services.postgres.stop()
        try:
            key = f"save-{uuid.uuid4()}"
            down = _save(client, world, version, key, 40)
            listing = client.get("/api/projects")
        finally:
            own_services.postgres.start()
            own_services.postgres.wait_ready()
        for response in (down, listing):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/json")
            assert response.json()["code"] == "database_unavailable"
            assert int(response.headers["Retry-After"]) >= 1

        again = _until_up(lambda: _save(client, world, version, key, 40))
        assert again.status_code == 200, again.text
        replay = _save(client, world, version, key, 40)  # the answer was lost: sent once more
        assert replay.status_code == 200 and replay.json()["version"] == again.json()["version"]
    assert again.json()["version"] == version + 1
    with Session(engine) as session:
        annotation = session.get(Annotation, world.annotation_id)
        assert annotation is not None and annotation.version == version + 1
        live = select(func.count()).select_from(Region).where(Region.annotation_id == world.annotation_id)
        assert session.scalar(live.where(Region.deleted_at.is_(None))) == 1
    engine.dispose()
