"""An export that matched no task says so in its report, and in its body where the format has room for one:
GeoJSON and COCO (``minelabel_report``), masks (report.json), GeoPackage (the layer's description); Label
Studio JSON is a bare list of tasks, so there it is the report (an export job's) and ``X-Export-Notes``."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import TileSettings
from app.interop.exports import ExportOptions
from app.interop.selection import Selection
from app.models import Project, TaskState
from app.services import exports as export_service
from tests.world import make_project, make_task

APPROVED_ONLY = "No task matched the selection (state=approved): the export holds no task."


@pytest.fixture
def project(db_session: Session, app: FastAPI, tmp_path: Path) -> Project:
    """A project with one ready task, still new: the default selection (approved) matches nothing."""
    project = make_project(db_session, "no-match")
    make_task(db_session, app.state.storage, project, tmp_path)
    return project


def export(client: TestClient, project: Project, fmt: str, **params: Any) -> Any:
    response = client.get(f"/api/projects/{project.id}/export", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    assert response.headers["x-export-tasks"] == "0"
    assert APPROVED_ONLY in response.headers["x-export-notes"]
    return response


def test_each_format_says_that_no_task_matched(client: TestClient, project: Project, tmp_path: Path) -> None:
    geojson = orjson.loads(export(client, project, "geojson").content)
    assert geojson["features"] == [] and geojson["minelabel_report"]["tasks"] == 0
    assert any(APPROVED_ONLY in note for note in geojson["minelabel_report"]["notes"])

    coco = orjson.loads(export(client, project, "coco").content)
    assert coco["images"] == [] and any(APPROVED_ONLY in n for n in coco["minelabel_report"]["notes"])

    with zipfile.ZipFile(io.BytesIO(export(client, project, "masks").content)) as archive:
        report = orjson.loads(archive.read("report.json"))
        assert [n for n in archive.namelist() if n.startswith("masks/")] == []
    assert report["tasks"] == 0 and any(APPROVED_ONLY in n for n in report["notes"])

    gpkg = tmp_path / "empty.gpkg"
    gpkg.write_bytes(export(client, project, "gpkg").content)
    with sqlite3.connect(gpkg) as connection:
        (description,) = connection.execute(
            "SELECT description FROM gpkg_contents WHERE table_name = 'regions'"
        ).fetchone()
    assert APPROVED_ONLY in description

    assert orjson.loads(export(client, project, "label-studio").content) == []  # Label Studio's own format


def test_the_report_of_an_export_job_names_the_filters(
    db_session: Session, app: FastAPI, project: Project, tmp_path: Path
) -> None:
    selection = Selection(
        states=(TaskState.APPROVED, TaskState.REJECTED), date_from=date(2021, 1, 1), classes=("Pit",)
    )
    # What the export job runs: the report it stores in its result.
    ctx, fmt = export_service.prepare(
        db_session, project.id, "label-studio", selection, ExportOptions(), app.state.storage, TileSettings()
    )
    report = export_service.write_file(ctx, fmt, tmp_path / "out.json")
    assert (tmp_path / "out.json").read_bytes() == b"[]"
    (note,) = report.notes
    assert note.startswith(
        "No task matched the selection (state=approved,rejected, date_from=2021-01-01, label=Pit)"
    )


def test_an_export_that_matched_tasks_has_no_such_note(client: TestClient, project: Project) -> None:
    response = client.get(f"/api/projects/{project.id}/export", params={"format": "geojson", "state": "new"})
    assert response.status_code == 200 and response.headers["x-export-tasks"] == "1"
    assert "x-export-notes" not in response.headers
    # The task matched; the GeoJSON skips it (pixel space only) and says that instead.
    (note,) = orjson.loads(response.content)["minelabel_report"]["notes"]
    assert note.startswith("1 task(s) skipped: they are not georeferenced")
