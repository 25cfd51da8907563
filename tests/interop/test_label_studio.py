"""Label Studio JSON export and import through the API, on real PostGIS: the format's facts, filters, the
report of what Label Studio cannot hold, round trips, re-imports, and every kind of bad file."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.config import LimitSettings, TileSettings
from app.interop.exports import ExportOptions
from app.interop.selection import Selection
from app.models import Annotation, Observation, Prediction, Project, Region, TaskState, User
from app.services import annotations as annotation_service
from app.services import exports as export_service
from app.services.predictions import create_prediction
from tests.world import make_project, make_task, make_user, region_input, ring, square, two_parts, with_hole

LIMITS = LimitSettings()


class Labeled:
    """A project with three tasks: two approved (one labeled, with a prediction), one in progress."""

    def __init__(self, session: Session, app: FastAPI, tmp: Path, name: str = "ls") -> None:
        self.project = make_project(session, name)
        self.annotator = make_user(session, "ann")
        storage = app.state.storage
        self.first = make_task(session, storage, self.project, tmp, site="0854", index=0)
        self.second = make_task(session, storage, self.project, tmp, site="0854", index=1)
        self.other = make_task(session, storage, self.project, tmp, site="3548", index=0)
        regions = [region_input("Pit", square(20, 20, 50)), region_input("Outline", with_hole()),
                   region_input("Infrastructure", two_parts())]  # fmt: skip
        annotation_service.create_annotation(session, self.first, regions, LIMITS, user_id=self.annotator.id)
        annotation_service.create_annotation(
            session, self.second, [region_input("Pit", square(0, 0, 10))], LIMITS, user_id=self.annotator.id
        )
        create_prediction(
            session, self.first, "sam-vit-b", 0.8, [region_input("Pit", square(30, 30, 40))], LIMITS
        )
        for task, state in [(self.first, TaskState.APPROVED), (self.second, TaskState.IN_PROGRESS),
                            (self.other, TaskState.APPROVED)]:  # fmt: skip
            session.execute(update(Observation).where(Observation.id == task.id).values(task_state=state))
        session.commit()


@pytest.fixture
def labeled(db_session: Session, app: FastAPI, tmp_path: Path) -> Labeled:
    return Labeled(db_session, app, tmp_path)


def export(client: TestClient, project: Project, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/projects/{project.id}/export", params={"format": "label-studio", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    tasks: list[dict[str, Any]] = response.json()
    return tasks


def test_the_export_follows_label_studio_s_format(client: TestClient, labeled: Labeled) -> None:
    tasks = export(client, labeled.project)
    assert [t["id"] for t in tasks] == [1, 2]  # approved only, sites by name, integers
    first = tasks[0]
    assert first["data"]["image"] == "/data/local-files/?d=0854/0854_000.tif"
    meta = first["data"]["minelabel"]
    assert (meta["site"], meta["filename"], meta["width"], meta["state"]) == (
        "0854",
        "0854_000.tif",
        200,
        "approved",
    )
    (annotation,) = first["annotations"]
    assert isinstance(annotation["id"], int)
    assert annotation["ground_truth"] is False and annotation["was_cancelled"] is False
    assert "completed_by" not in annotation and "lead_time" in annotation
    results = annotation["result"]
    assert [r["value"]["polygonlabels"] for r in results] == [
        ["Infrastructure"],
        ["Infrastructure"],
        ["Outline"],
        ["Pit"],
    ]
    pit = results[3]
    assert pit["type"] == "polygonlabels" and (pit["from_name"], pit["to_name"]) == ("label", "image")
    assert (pit["original_width"], pit["original_height"], pit["image_rotation"]) == (200, 200, 0)
    assert pit["value"]["closed"] is True
    # Percent of the image size, the ring not closed: square(20, 20, 50) on 200 x 200 px.
    assert sorted(map(tuple, pit["value"]["points"])) == [(10, 10), (10, 35), (35, 10), (35, 35)]
    outline = results[2]["value"]["points"]
    assert len(outline) == 4 and max(max(p) for p in outline) == 75  # the outer ring only: the hole is gone
    (prediction,) = first["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("sam-vit-b", 0.8)
    assert prediction["result"][0]["value"]["polygonlabels"] == ["Pit"]
    assert tasks[1]["annotations"] == [] and tasks[1]["data"]["minelabel"]["site"] == "3548"


def test_filters_and_options(client: TestClient, labeled: Labeled) -> None:
    everything = export(client, labeled.project, all_states="true")
    assert len(everything) == 3
    in_progress = export(client, labeled.project, state="in_progress")
    assert [t["data"]["minelabel"]["filename"] for t in in_progress] == ["0854_001.tif"]
    pits = export(client, labeled.project, label="Pit", predictions="false")
    assert {r["value"]["polygonlabels"][0] for r in pits[0]["annotations"][0]["result"]} == {"Pit"}
    assert pits[0]["predictions"] == []
    emails = export(client, labeled.project, completed_by="email")
    assert emails[0]["annotations"][0]["completed_by"] == {"email": labeled.annotator.email}
    urls = export(
        client, labeled.project, image_url="https://ml.example/api/observations/{observation_id}/image"
    )
    assert urls[0]["data"]["image"] == f"https://ml.example/api/observations/{labeled.first.id}/image"
    bare = client.get(f"/api/projects/{labeled.project.id}/export", params={"image_url": "{filename}"})
    assert bare.status_code == 422 and "never show the image" in bare.json()["detail"]
    unknown = client.get(f"/api/projects/{labeled.project.id}/export", params={"label": "Road"})
    assert unknown.status_code == 422 and "Road" in unknown.json()["detail"]


def test_the_report_says_what_label_studio_cannot_hold(db_session: Session, app: FastAPI, labeled: Labeled,
                                                       tmp_path: Path) -> None:  # fmt: skip
    ctx, fmt = export_service.prepare(
        db_session,
        labeled.project.id,
        "label-studio",
        Selection(),
        ExportOptions(),
        app.state.storage,
        TileSettings(),
    )
    report = export_service.write_file(ctx, fmt, tmp_path / "out.json")
    assert (report.tasks, report.annotations, report.predictions) == (2, 1, 1)
    assert (report.regions, report.polygons) == (4, 5)  # 4 results of the annotation; + 1 of the prediction
    assert report.multipart_regions_split == 1 and report.holes_dropped == 1 and report.hole_area_px == 400
    assert any("hole" in note for note in report.notes)
    assert json.loads((tmp_path / "out.json").read_text())[0]["id"] == 1


def copy_of(session: Session, app: FastAPI, tmp: Path, source: Labeled) -> Project:
    """A fresh project with the same images (file names and sizes) and no labels."""
    project = make_project(session, "copy")
    for task in (source.first, source.second, source.other):
        site = "0854" if task.original_filename.startswith("0854") else "3548"
        make_task(session, app.state.storage, project, tmp, site=site, index=task.index)
    return project


def post_import(client: TestClient, project: Project, content: bytes, **params: Any) -> Any:
    return client.post(
        f"/api/projects/{project.id}/import", params={"format": "label-studio", **params},
        files={"file": ("export.json", content, "application/json")},
    )  # fmt: skip


def test_export_import_export_is_identical_and_a_second_import_adds_nothing(
    client: TestClient, db_session: Session, app: FastAPI, labeled: Labeled, tmp_path: Path
) -> None:
    first = client.get(f"/api/projects/{labeled.project.id}/export").content
    target = copy_of(db_session, app, tmp_path, labeled)
    imported = post_import(client, target, first)
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["annotations_created"], body["predictions_created"], body["regions_created"]) == (1, 1, 5)
    again = client.get(f"/api/projects/{target.id}/export").content
    assert orjson.loads(again) == orjson.loads(first), unified(orjson.loads(first), orjson.loads(again))
    assert again == first

    count = db_session.scalar(
        select(func.count()).select_from(Annotation).where(Annotation.project_id == target.id)
    )
    repeat = post_import(client, target, first)
    assert repeat.status_code == 200 and repeat.json()["skipped_as_imported_before"] == 2
    assert repeat.json()["annotations_created"] == 0
    assert (
        db_session.scalar(
            select(func.count()).select_from(Annotation).where(Annotation.project_id == target.id)
        )
        == count
    )


def unified(before: Any, after: Any) -> str:
    """A readable diff of two JSON documents, for assertion messages."""
    old, new = (orjson.dumps(d, option=orjson.OPT_INDENT_2).decode().splitlines() for d in (before, after))
    return "\n".join(difflib.unified_diff(old, new, lineterm=""))


def label_studio_task(filename: str, results: list[dict[str, Any]], **annotation: Any) -> dict[str, Any]:
    """A task as Label Studio 1.x exports it, with an uploaded image."""
    return {
        "id": 7, "data": {"image": f"/data/upload/3/1a2b3c4d-{filename}"},
        "annotations": [{"id": 11, "completed_by": 1, "result": results, "was_cancelled": False,
                         "ground_truth": False, "created_at": "2026-03-09T21:52:49.513742Z",
                         "updated_at": "2026-03-09T22:16:08.746926Z", "lead_time": 4.2, **annotation}],
        "predictions": [],
    }  # fmt: skip


Points = list[list[int]] | list[list[float]]


def polygon(points: Points, label: str = "Pit", **changes: Any) -> dict[str, Any]:
    result = {"id": "Dx_aB91ISN", "type": "polygonlabels", "from_name": "label", "to_name": "image",
              "original_width": 200, "original_height": 200, "image_rotation": 0,
              "value": {"points": points, "closed": True, "polygonlabels": [label]}}  # fmt: skip
    result.update(changes)
    return result


TRIANGLE = [[10.0, 10.0], [50.0, 10.0], [30.0, 40.0]]


def test_a_label_studio_upload_is_matched_by_file_name_and_attributed(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    project = make_project(db_session, "from-ls")
    task = make_task(db_session, app.state.storage, project, tmp_path, site="0854", index=0)
    response = post_import(
        client, project, orjson.dumps([label_studio_task("0854_000.tif", [polygon(TRIANGLE)])])
    )
    assert response.status_code == 200, response.text
    assert "imported@minelabel.local" not in str(response.json()["notes"])  # an id, not an email: no note
    annotation = db_session.scalars(select(Annotation).where(Annotation.observation_id == task.id)).one()
    owner = db_session.get(User, annotation.created_by)
    assert owner is not None and owner.email == "imported@minelabel.local" and not owner.is_active
    assert annotation.lead_time == 4.2 and annotation.created_at.year == 2026
    region = db_session.scalars(select(Region).where(Region.annotation_id == annotation.id)).one()
    assert region.area_px == pytest.approx(0.5 * 80 * 60)  # the triangle in pixels
    db_session.expire_all()
    assert db_session.get(Observation, task.id).task_state == TaskState.SUBMITTED  # type: ignore[union-attr]


def bad_cases() -> list[tuple[str, Any, str]]:
    ok = polygon(TRIANGLE)

    def on_first(*results: dict[str, Any], **annotation: Any) -> list[dict[str, Any]]:
        return [label_studio_task("0854_000.tif", list(results), **annotation)]

    crossing = [[0, 0], [50, 50], [50, 0], [0, 50]]
    scored = {**label_studio_task("0854_000.tif", []), "predictions": [{"score": 7, "result": [ok]}]}
    twice = [label_studio_task("0854_000.tif", [ok]), label_studio_task("0854_001.tif", [ok])]
    return [
        ("not json", b"{not json", "not JSON"),
        ("wrong shape", orjson.dumps({"tasks": 3}), "no 'data' object"),
        ("numbers", orjson.dumps([1, 2]), "must be a JSON object"),
        ("unknown label", on_first(polygon(TRIANGLE, label="Road")), "polygonlabels"),
        ("out of range", on_first(polygon([[10, 10], [120, 10], [30, 40]])), "outside 0-100"),
        ("unknown image", [label_studio_task("9999_000.tif", [ok])], "matches no observation"),
        ("duplicate ids", twice, "appears twice"),
        ("string id", on_first(ok, id="abc"), "not an integer"),
        ("wrong size", on_first(polygon(TRIANGLE, original_width=1000)), "not the image's size"),
        ("wrong from_name", on_first(polygon(TRIANGLE, from_name="tag")), "from_name"),
        ("rectangle", on_first(polygon(TRIANGLE, type="rectanglelabels")), "polygonlabels only"),
        ("two vertices", on_first(polygon([[1, 1], [2, 2]])), "at least 3"),
        ("self-crossing", on_first(polygon(crossing)), "intersect"),
        ("bad score", [scored], "0 to 1"),
    ]


@pytest.mark.parametrize(("case", "content", "message"), bad_cases(), ids=[c[0] for c in bad_cases()])
def test_a_bad_file_is_rejected_whole_with_every_problem_named(
    client: TestClient,
    db_session: Session,
    app: FastAPI,
    tmp_path: Path,
    case: str,
    content: Any,
    message: str,
) -> None:
    project = make_project(db_session, "bad")
    for index in (0, 1):
        make_task(db_session, app.state.storage, project, tmp_path, site="0854", index=index)
    good = {**label_studio_task("0854_001.tif", [polygon(TRIANGLE)], id=99), "id": 1}
    if isinstance(content, list):
        content = orjson.dumps([good, *content])  # a good task first: it must not be stored either
    response = post_import(client, project, content)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_rejected" and "nothing was stored" in body["detail"]
    assert any(message in p["message"] for p in body["problems"]), body["problems"]
    if isinstance(json.loads(content) if case != "not json" else None, list) and case not in ("numbers",):
        assert all(p.get("task") != 0 for p in body["problems"]), body["problems"]  # the good task is fine
    stored = db_session.scalar(
        select(func.count()).select_from(Annotation).where(Annotation.project_id == project.id)
    )
    predictions = db_session.scalar(
        select(func.count()).select_from(Prediction).where(Prediction.project_id == project.id)
    )
    assert (stored, predictions) == (0, 0)


def test_a_file_over_the_import_limit_is_refused_while_streaming(
    client: TestClient, db_session: Session, app: FastAPI
) -> None:
    project = make_project(db_session, "huge")
    content = b"[" + b" " * (100 * 1024**2) + b"]"  # 100 MB
    response = post_import(client, project, content)
    assert response.status_code == 413, response.text
    assert "LIMITS__MAX_IMPORT_BYTES" in response.json()["detail"] or "larger" in response.json()["detail"]


@pytest.mark.seed
def test_seed_images_round_trip_through_label_studio_json(
    client: TestClient, db_session: Session, app: FastAPI, seed_data: Path, tmp_path: Path
) -> None:
    """Real Sentinel-2 PNGs of two mines: labels exported as the workshop sends them, imported into a fresh
    project with the same images, exported again: the same file."""
    from tests.interop.test_coco_masks import seed_observation

    def project_with_seed_images(name: str) -> tuple[Project, list[Observation]]:
        project = make_project(db_session, name)
        observations = []
        for stem in ("0854_000", "3548_000"):
            png = tmp_path / name / f"{stem}.png"
            png.parent.mkdir(exist_ok=True)
            shutil.copyfile(seed_data / "minetracking2021" / f"{stem}.png", png)
            observations.append(seed_observation(db_session, app, project, png))
        return project, observations

    source, observations = project_with_seed_images("seed-a")
    annotator = make_user(db_session, "seed-ann")
    for number, observation in enumerate(observations):
        regions = [
            region_input("Outline", square(100, 100, 600)),
            region_input("Pit", square(250 + number, 300, 120)),
            region_input("Infrastructure", ring([(500, 500), (640, 520), (600, 650)])),
        ]
        annotation_service.create_annotation(db_session, observation, regions, LIMITS, user_id=annotator.id)
        db_session.execute(
            update(Observation).where(Observation.id == observation.id).values(task_state=TaskState.APPROVED)
        )
    db_session.commit()
    first = client.get(f"/api/projects/{source.id}/export").content
    tasks = orjson.loads(first)
    assert [t["data"]["image"] for t in tasks] == ["/data/local-files/?d=0854/0854_000.png",
                                                   "/data/local-files/?d=3548/3548_000.png"]  # fmt: skip
    assert all(r["original_width"] == 1000 for t in tasks for r in t["annotations"][0]["result"])
    target, _ = project_with_seed_images("seed-b")
    imported = post_import(client, target, first)
    assert imported.status_code == 200 and imported.json()["regions_created"] == 6, imported.text
    assert client.get(f"/api/projects/{target.id}/export").content == first


def test_the_formats_are_listed(client: TestClient) -> None:
    formats = client.get("/api/export-formats").json()
    assert set(formats["exports"]) == {"label-studio", "geojson", "gpkg", "coco", "masks"}
    assert set(formats["imports"]) == {"label-studio", "coco", "geojson", "gpkg"}
    assert formats["exports"]["masks"]["media_type"] == "application/zip"


def export_button_task(task_id: int, filename: str, prediction_ids: list[int]) -> dict[str, Any]:
    """A task as Label Studio 1.23's Export button (JSON) writes it: every column of the task and its
    annotations, `completed_by` a user id, and `predictions` and `drafts` as ids only
    (label_studio/data_export/serializers.py: PrimaryKeyRelatedField)."""
    return {
        "id": task_id,
        "annotations": [
            {
                "id": 40 + task_id,
                "completed_by": 1,
                "result": [polygon(TRIANGLE)],
                "was_cancelled": False,
                "ground_truth": False,
                "created_at": "2026-11-30T09:12:44.104455Z",
                "updated_at": "2026-11-30T09:13:02.512300Z",
                "draft_created_at": None,
                "lead_time": 18.25,
                "prediction": {},
                "result_count": 1,
                "unique_id": "5b0c8f62-2a44-4f8e-9d1e-7d9f0e8c1a23",
                "import_id": None,
                "last_action": None,
                "bulk_created": False,
                "task": task_id,
                "project": 2,
                "updated_by": 1,
                "parent_prediction": prediction_ids[0] if prediction_ids else None,
                "parent_annotation": None,
                "last_created_by": None,
            }
        ],
        "file_upload": f"1a2b3c4d-{filename}",
        "drafts": [],
        "predictions": prediction_ids,
        "data": {"image": f"/data/upload/2/1a2b3c4d-{filename}"},
        "meta": {},
        "created_at": "2026-11-30T09:10:00.000000Z",
        "updated_at": "2026-11-30T09:13:02.530000Z",
        "inner_id": task_id,
        "total_annotations": 1,
        "cancelled_annotations": 0,
        "total_predictions": len(prediction_ids),
        "comment_count": 0,
        "unresolved_comment_count": 0,
        "last_comment_updated_at": None,
        "project": 2,
        "updated_by": 1,
        "comment_authors": [],
    }


def test_the_export_button_s_file_imports_skipping_predictions_given_by_id(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    project = make_project(db_session, "ls-button")
    first = make_task(db_session, app.state.storage, project, tmp_path, site="0854", index=0)
    second = make_task(db_session, app.state.storage, project, tmp_path, site="0854", index=1)
    tasks = [export_button_task(3, "0854_000.tif", [17, 18]), export_button_task(4, "0854_001.tif", [19])]
    response = post_import(client, project, orjson.dumps(tasks))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["annotations_created"], report["predictions_created"], report["regions_created"]) == (
        2,
        0,
        2,
    )
    assert report["skipped"] == {"prediction_ids_only": 3}
    assert (
        "task 0: 2 predictions are ids only (Label Studio's export lists predictions by id); skipped"
        in (report["notes"])
    )
    assert (
        "task 1: 1 prediction is an id only (Label Studio's export lists predictions by id); skipped"
        in (report["notes"])
    )
    for task in (first, second):
        annotation = db_session.scalars(select(Annotation).where(Annotation.observation_id == task.id)).one()
        assert annotation.lead_time == 18.25
    again = post_import(client, project, orjson.dumps(tasks))
    assert again.json()["skipped_as_imported_before"] == 2 and again.json()["annotations_created"] == 0


def test_a_prediction_that_is_neither_an_object_nor_an_id_is_named_a_prediction(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    project = make_project(db_session, "ls-bad-prediction")
    make_task(db_session, app.state.storage, project, tmp_path, site="0854", index=0)
    task = {**label_studio_task("0854_000.tif", [polygon(TRIANGLE)]), "predictions": [12, "p-13"]}
    response = post_import(client, project, orjson.dumps([task]))
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem == {
        "task": 0,
        "prediction": 1,
        "message": "the prediction must be a JSON object (or, as Label Studio's export writes it, an integer "
        'id), not "p-13"',
    }
    assert (
        db_session.scalar(
            select(func.count()).select_from(Annotation).where(Annotation.project_id == project.id)
        )
        == 0
    )
