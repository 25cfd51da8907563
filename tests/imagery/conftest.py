"""Imagery fixtures: uploads converted in the test's own process, for tests that need ready observations
without a worker (the ingest job's logic, run as the CLI runs it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import TileSettings
from app.services.imagery_processing import process_observations
from tests.imagery.test_upload_validation import upload

IngestHere = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def ingest_here(client: TestClient, app: FastAPI, db_session: Session, tmp_path: Path) -> IngestHere:
    """Upload ``paths`` (and a sidecar) into ``project`` through the API, convert them here, and return the
    observations as the API reads them once ready."""

    def make(project: dict[str, Any], *paths: Path, sidecar: Path | None = None) -> list[dict[str, Any]]:
        response = upload(client, project, *paths, sidecar=sidecar)
        assert response.status_code == 202, response.text
        ids = [uuid.UUID(o["id"]) for o in response.json()["observations"]]
        scratch = tmp_path / "scratch"
        process_observations(db_session, app.state.storage, ids, TileSettings(), lambda *_: None, scratch)
        return [client.get(f"/api/observations/{i}").json() for i in ids]

    return make
