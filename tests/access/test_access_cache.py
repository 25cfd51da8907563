"""Tile and thumbnail reads reuse a recent permission decision for SECURITY__ACCESS_CACHE_S seconds; every
other route decides afresh, so a revoked token is refused there at once."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import SecuritySettings, Settings, StorageSettings
from app.main import create_app
from app.models import ApiToken
from app.services.auth import revoke_api_token, token_hash
from tests.world import build_world


def test_a_revoked_token_keeps_reading_tiles_only_for_the_cache_time(
    app: FastAPI, db_session: Session, tmp_path: Path, settings: Settings,
    session_factory: sessionmaker[Session], files_dir: Path,
) -> None:  # fmt: skip
    world = build_world(db_session, app.state.storage, tmp_path, real_image=True)
    key = world.keys["annotator"]
    headers = {"Authorization": f"Token {key}"}
    tile = f"/api/observations/{world.task.id}/tiles/pixel/0/0/0.png"
    no_cache = settings.model_copy(
        update={
            "security": SecuritySettings(access_cache_s=0),
            "storage": StorageSettings(data_dir=files_dir),
        }
    )
    uncached_app = create_app(no_cache, session_factory=session_factory)
    with TestClient(app) as cached, TestClient(uncached_app) as uncached:
        assert cached.get(tile, headers=headers).status_code == 200
        assert uncached.get(tile, headers=headers).status_code == 200

        token = db_session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(key))).one()
        revoke_api_token(db_session, world.annotator, token.id)

        assert cached.get(f"/api/observations/{world.task.id}", headers=headers).status_code == 401
        assert cached.get(tile, headers=headers).status_code == 200  # the decision is remembered (30 s)
        assert uncached.get(tile, headers=headers).status_code == 401  # SECURITY__ACCESS_CACHE_S=0
        thumbnail = cached.get(f"/api/observations/{world.task.id}/thumbnail", headers=headers)
        assert thumbnail.status_code == 401  # another route: a decision of its own
