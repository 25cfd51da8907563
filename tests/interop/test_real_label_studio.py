"""The export imported into a real Label Studio (1.23, the `label-studio` package in its own virtual
environment, .venv-label-studio, run on loopback with SQLite): every task, annotation and prediction is
accepted, with the same labels and points. Slow (Label Studio starts in ~15 s); `make test` runs it."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import REPO_ROOT
from app.devstack.throwaway import free_port
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG
from tests.interop.test_label_studio import Labeled, copy_of

LABEL_STUDIO = REPO_ROOT / ".venv-label-studio" / "bin" / "label-studio"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    if not LABEL_STUDIO.is_file():
        pytest.skip(f"Label Studio is not installed at {LABEL_STUDIO} (scripts/setup.sh installs it)")
    data = tmp_path_factory.mktemp("label-studio")
    (data / "files").mkdir()
    # Hex: a password or token starting with "-" would be taken for an option by its argparse.
    port, token = free_port(), secrets.token_hex(20)
    env = {
        **os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LOCAL_FILES_SERVING_ENABLED": "true",
        "LOCAL_FILES_DOCUMENT_ROOT": str(data / "files"), "DJANGO_DB": "sqlite",
    }  # fmt: skip
    command = [
        str(LABEL_STUDIO), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1",
        "--host", f"http://127.0.0.1:{port}", "--data-dir", str(data), "--username", "tests@minelabel.local",
        "--password", "pw" + secrets.token_hex(12), "--user-token", token, "--enable-legacy-api-token",
        "--agree-fix-sqlite",
    ]  # fmt: skip
    log = (data / "label-studio.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise AssertionError(
                    f"Label Studio did not start: {(data / 'label-studio.log').read_text()[-3000:]}"
                )
            time.sleep(1)
        with httpx.Client(base_url=base, headers={"Authorization": f"Token {token}"}, timeout=60) as client:
            yield client
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def shapes(tasks: list[dict[str, Any]], key: str) -> list[list[tuple[str, int, int, list[list[float]]]]]:
    """Per task: each result's label, original size and points, in order."""
    return [
        [(r["value"]["polygonlabels"][0], r["original_width"], r["original_height"], r["value"]["points"])
         for item in task[key] for r in item["result"]]
        for task in tasks
    ]  # fmt: skip


@pytest.mark.slow
def test_label_studio_accepts_every_task_annotation_and_prediction(
    label_studio: httpx.Client, client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    labeled = Labeled(db_session, app, tmp_path)
    export = client.get(f"/api/projects/{labeled.project.id}/export", params={"all_states": "true"}).json()
    assert len(export) == 3

    project = label_studio.post(
        "/api/projects", json={"title": "MineLabel export", "label_config": DEFAULT_LABELING_CONFIG}
    )
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    imported = label_studio.post(f"/api/projects/{project_id}/import", json=export)
    assert imported.status_code == 201, imported.text
    counts = imported.json()
    assert (counts["task_count"], counts["annotation_count"], counts["prediction_count"]) == (3, 2, 1), counts

    back = label_studio.get(
        f"/api/projects/{project_id}/export", params={"exportType": "JSON", "download_all_tasks": "true"}
    )
    assert back.status_code == 200, back.text
    tasks = sorted(back.json(), key=lambda t: t["data"]["minelabel"]["filename"])
    mine = sorted(export, key=lambda t: t["data"]["minelabel"]["filename"])
    assert [t["data"] for t in tasks] == [t["data"] for t in mine]  # image reference and geo metadata kept
    assert shapes(tasks, "annotations") == shapes(mine, "annotations")
    # Label Studio's own export lists predictions by id; read them through its predictions API.
    predictions = label_studio.get("/api/predictions", params={"project": project_id})
    assert predictions.status_code == 200, predictions.text
    by_task = {t["id"]: t["data"]["minelabel"]["filename"] for t in tasks}
    stored = sorted(
        (by_task[p["task"]], p["model_version"], p["score"], p["result"]) for p in predictions.json()
    )
    expected = sorted((t["data"]["minelabel"]["filename"], p["model_version"], p["score"], p["result"])
                      for t in mine for p in t["predictions"])  # fmt: skip
    assert [(f, v, s, [r["value"] for r in rs]) for f, v, s, rs in stored] == [
        (f, v, s, [r["value"] for r in rs]) for f, v, s, rs in expected
    ]
    for task in tasks:
        for annotation in task["annotations"]:
            assert annotation["ground_truth"] is False and annotation["was_cancelled"] is False

    # And back into MineLabel, as the Export button wrote it: annotations in, predictions (ids only) skipped.
    target = copy_of(db_session, app, tmp_path, labeled)
    reimported = client.post(
        f"/api/projects/{target.id}/import",
        params={"format": "label-studio"},
        files={"file": ("label-studio-export.json", back.content, "application/json")},
    )
    assert reimported.status_code == 200, reimported.text
    report = reimported.json()
    assert (report["annotations_created"], report["predictions_created"]) == (2, 0), report
    assert report["regions_created"] == sum(len(a["result"]) for t in tasks for a in t["annotations"])
    assert report["skipped"] == {"prediction_ids_only": 1}
    assert [n for n in report["notes"] if "is an id only" in n] == [
        f"task {i}: 1 prediction is an id only (Label Studio's export lists predictions by id); skipped"
        for i, t in enumerate(back.json())
        if t["predictions"]
    ]
