"""What an API process killed mid-upload leaves in staging is swept at the next start (and with the next
upload), by age: a folder another process is still writing into stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.api.staging import staging_root
from app.core.config import Settings, StorageSettings
from app.main import create_app


def _left_behind(root: Path, name: str, age_s: float) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    part = folder / "000001.upload"
    part.write_bytes(b"\0" * 4096)  # half an image, as a killed upload leaves it
    then = time.time() - age_s
    for path in (part, folder):
        os.utime(path, (then, then))
    return folder


def test_abandoned_staging_is_swept_at_start_up_and_live_uploads_stay(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    data_dir = tmp_path / "files"
    root = staging_root(data_dir)
    abandoned = _left_behind(root, "tmp-killed", age_s=2 * 3600)
    in_progress = _left_behind(root, "tmp-live", age_s=5)
    app = create_app(
        settings.model_copy(update={"storage": StorageSettings(data_dir=data_dir, staging_max_idle_s=3600)}),
        session_factory=session_factory,
    )
    with TestClient(app):
        assert not abandoned.exists()
        assert in_progress.exists()


def test_a_new_upload_sweeps_abandoned_staging(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path, client: TestClient
) -> None:
    root = staging_root(client.app.state.settings.storage.data_dir)  # type: ignore[attr-defined]
    abandoned = _left_behind(root, "tmp-killed", age_s=2 * 3600)
    project = client.post("/api/projects", json={"name": "staging"}).json()
    response = client.post(
        f"/api/projects/{project['id']}/images", files={"files": ("a.txt", b"not an image")}
    )
    assert 400 <= response.status_code < 500
    assert not abandoned.exists()
    assert list(root.iterdir()) == []  # the upload's own folder went too
