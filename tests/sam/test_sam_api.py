"""SAM through the API with a real worker and the tiny checkpoint: embeddings at ingest with their manifest,
prompts to polygons decoded in the API, the decoder served, bad prompts refused, a missing or stale embedding
answered with the job computing it, and a clear 503 where SAM is not set up."""

from __future__ import annotations

import io
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from shapely.ops import unary_union
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from app.core.config import SamSettings, Settings
from app.main import create_app
from app.ml import sam_hover
from app.ml.sam_windows import plan_windows
from app.models import Job, JobKind, Observation, Project, TaskState
from tests.imagery.factories import write_geotiff
from tests.jobs import wait_for_job
from tests.services import REPO_ROOT
from tests.world import square

pytestmark = pytest.mark.slow

SETUP = "SAM is not set up: set SAM__CHECKPOINT to a checkpoint file (see README)"


@pytest.fixture(scope="module")
def sam_client(
    settings: Settings, sam_checkpoint: Path | None, committed_admin_key: str, engine: Engine
) -> Iterator[TestClient]:
    """A site admin on an app with SAM set up (the tiny checkpoint), committing for real."""
    if sam_checkpoint is None:
        pytest.skip("the ml group (torch, segment-anything) is not installed: MINELABEL_SKIP_ML=1")
    app = create_app(settings.model_copy(update={"sam": SamSettings(checkpoint=sam_checkpoint)}))
    with Session(engine) as session:
        projects_before = set(session.scalars(select(Project.id)))
        jobs_before = set(session.scalars(select(Job.id)))
    with TestClient(app, headers={"Authorization": f"Token {committed_admin_key}"}) as client:
        yield client
    with Session(engine) as session:
        session.execute(delete(Project).where(Project.id.not_in(projects_before)))
        session.execute(delete(Job).where(Job.id.not_in(jobs_before)))
        session.commit()


def upload(
    client: TestClient, tmp_path: Path, name: str, **image: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A project with one image, ingested and embedded; (observation, the sam_embed job)."""
    project = client.post("/api/projects", json={"name": f"sam-{uuid.uuid4().hex[:6]}"}).json()
    source = tmp_path / name
    write_geotiff(source, **image)
    response = client.post(
        f"/api/projects/{project['id']}/images",
        files=[("files", (source.name, source.read_bytes(), "image/tiff"))],
    )
    assert response.status_code == 202, response.text
    ingest = wait_for_job(client, response.json()["job"]["id"])
    embed_id = ingest["result"]["sam_embed_job_id"]
    assert embed_id is not None, ingest
    embed = wait_for_job(client, embed_id)
    (observation,) = response.json()["observations"]
    return client.get(f"/api/observations/{observation['id']}").json(), embed


def test_embeddings_at_ingest_and_a_click_becomes_a_polygon(
    worker: str, sam_client: TestClient, tmp_path: Path
) -> None:
    observation, embed = upload(sam_client, tmp_path, "pit_000.tif", width=700, height=600)
    assert embed["kind"] == "sam_embed" and embed["queue"] == "gpu"
    assert (embed["result"]["encoded"], embed["result"]["windows"]) == (1, 5)  # 2 x 2 tiles + the full frame

    status = sam_client.get(f"/api/observations/{observation['id']}/sam/embeddings").json()
    assert status["state"] == "current" and status["reason"] is None and status["job"] is None
    manifest = status["manifest"]
    expected = plan_windows(700, 600, zoom=2, overlap_px=128)
    assert [(w["kind"], w["x"], w["y"], w["width"], w["height"]) for w in manifest["windows"]] == [
        (w.kind, w.x, w.y, w.width, w.height) for w in expected
    ]
    assert manifest["windows"][0]["scale"] == 2.0 and manifest["windows"][-1]["scale"] == pytest.approx(
        1024 / 700
    )
    assert manifest["checkpoint_hash"] == embed["result"]["checkpoint_hash"]
    assert (manifest["image_width"], manifest["image_height"], manifest["dtype"]) == (700, 600, "float16")

    onnx = sam_client.get("/api/sam/decoder.onnx")
    assert onnx.status_code == 200 and len(onnx.content) > 1_000_000  # the real decoder's size
    assert onnx.headers["etag"] == f'"{manifest["checkpoint_hash"]}"'
    assert sam_client.get("/api/sam/status").json()["ready"] is True

    # A window's embedding for the browser: raw float16, the values the API decodes with, kept by the ETag.
    window_url = f"/api/observations/{observation['id']}/sam/embeddings/1"
    raw = sam_client.get(window_url)
    assert raw.status_code == 200 and len(raw.content) == 256 * 64 * 64 * 2
    storage = getattr(sam_client.app, "state").storage  # noqa: B009 (TestClient types .app as an ASGI callable)
    stored = np.load(io.BytesIO(storage.get_bytes(manifest["windows"][1]["key"])), allow_pickle=False)
    assert np.array_equal(np.frombuffer(raw.content, dtype="<f2").reshape(256, 64, 64), stored)
    again = sam_client.get(window_url, headers={"If-None-Match": raw.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    missing = sam_client.get(f"/api/observations/{observation['id']}/sam/embeddings/99")
    assert missing.status_code == 404 and missing.json()["code"] == "sam_window_not_found"

    # Its hover map: a 4 x 4 grid (the test worker's SAM__HOVER_POINTS_PER_SIDE), each point's mask what a
    # prompt there gives (the browser previews the mask under the pointer from it).
    assert manifest["hover_points_per_side"] == 4 and all(w["hover_key"] for w in manifest["windows"])
    hover_url = f"/api/observations/{observation['id']}/sam/hover/1"
    hover = sam_client.get(hover_url)
    assert hover.status_code == 200 and hover.headers["content-type"] == "application/octet-stream"
    hover_map = sam_hover.decode(hover.content)
    window = manifest["windows"][1]
    assert (hover_map.per_side, hover_map.width, hover_map.height) == (4, window["width"], window["height"])
    x, y = sam_hover.grid_points(window["width"], window["height"], 4)[5]
    at_point = sam_client.post(
        f"/api/observations/{observation['id']}/sam",
        json={
            "points": [{"x": window["x"] + x, "y": window["y"] + y}],
            "min_area_px": 0,
            "simplify_px": 0,
            "largest_only": False,
        },
    ).json()
    assert at_point["window_index"] == 1
    area = unary_union([shape(p["geometry"]) for p in at_point["polygons"]]).area
    assert area == pytest.approx(hover_map.entries[5].area, rel=0.02)
    assert sam_client.get(hover_url, headers={"If-None-Match": hover.headers["etag"]}).status_code == 304
    no_map = sam_client.get(f"/api/observations/{observation['id']}/sam/hover/99")
    assert no_map.status_code == 404 and no_map.json()["code"] == "sam_hover_map_not_found"
    assert "sam/embed?force=true" in no_map.json()["detail"]

    answer = sam_client.post(
        f"/api/observations/{observation['id']}/sam",
        json={"points": [{"x": 150, "y": 140}, {"x": 250, "y": 200, "positive": False}], "min_area_px": 0},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window_kind"] == "tile" and body["checkpoint_hash"] == manifest["checkpoint_hash"]
    assert 0 <= body["decode_ms"] < 10_000
    for polygon in body["polygons"]:
        assert polygon["geometry"]["type"] == "Polygon"
        xs = [x for ring in polygon["geometry"]["coordinates"] for x, _ in ring]
        ys = [y for ring in polygon["geometry"]["coordinates"] for _, y in ring]
        assert min(xs) >= 0 and max(xs) <= 700 and min(ys) >= 0 and max(ys) <= 600
    boxed = sam_client.post(f"/api/observations/{observation['id']}/sam", json={"box": [10, 10, 690, 590]})
    assert boxed.status_code == 200 and boxed.json()["window_kind"] == "full"


def test_bad_prompts_are_refused_with_a_message(worker: str, sam_client: TestClient, tmp_path: Path) -> None:
    observation, _ = upload(sam_client, tmp_path, "bad_000.tif", width=300, height=200)
    url = f"/api/observations/{observation['id']}/sam"
    for body, message in [
        ({}, "a prompt needs at least one point or a box"),
        ({"points": [{"x": 10, "y": 10, "positive": False}]}, "negative points alone select nothing"),
        ({"box": [50, 50, 40, 60]}, "box must be x0, y0, x1, y1 with x1 > x0"),
        ({"points": [{"x": 10, "y": 10}], "surprise": 1}, "Extra inputs are not permitted"),
    ]:
        response = sam_client.post(url, json=body)
        assert response.status_code == 422, body
        assert message in str(response.json()["detail"]), response.text
    outside = sam_client.post(url, json={"points": [{"x": 350, "y": 10}]})
    assert outside.status_code == 422
    assert outside.json()["code"] == "sam_prompt_outside_image"
    assert "outside the image (300 x 200 px)" in outside.json()["detail"]


def test_missing_or_stale_embeddings_name_the_job_computing_them(
    worker: str, sam_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    observation, _ = upload(
        sam_client,
        tmp_path,
        "s2_000.tif",
        width=300,
        height=200,
        count=4,
        dtype="uint16",
        descriptions=["B2", "B3", "B4", "B8"],
    )
    url = f"/api/observations/{observation['id']}/sam"
    click = {"points": [{"x": 100, "y": 100}]}
    assert sam_client.post(url, json=click).status_code == 200
    # Another display preset: what the annotator sees changed, so SAM must see it again.
    changed = sam_client.patch(
        f"/api/projects/{observation['project_id']}", json={"display_preset": "false_color"}
    )
    assert changed.status_code == 200, changed.text
    stale = sam_client.post(url, json=click)
    assert stale.status_code == 409, stale.text
    error = stale.json()
    assert error["code"] == "sam_embedding_pending"
    assert error["reason"] == "the display preset changed (other bands, or another way of drawing them)"
    assert f"GET /api/jobs/{error['job_id']}" in error["detail"]
    again = sam_client.post(url, json=click).json()
    assert again["job_id"] == error["job_id"]  # the same job, not a second one
    job = wait_for_job(sam_client, error["job_id"])
    assert job["kind"] == JobKind.SAM_EMBED.value and job["result"]["encoded"] == 1
    assert sam_client.post(url, json=click).status_code == 200

    # Embeddings gone from storage (say, deleted by hand): asked again, and computed again.
    for manifest in settings.storage.data_dir.rglob(f"{observation['id']}/sam/manifest.json"):
        manifest.unlink()
    missing = sam_client.post(url, json=click)
    assert missing.status_code == 409
    assert missing.json()["reason"] == "the observation has no SAM embeddings yet"
    wait_for_job(sam_client, missing.json()["job_id"])
    assert sam_client.post(url, json=click).status_code == 200


def test_without_a_checkpoint_sam_says_how_to_set_it_up(client: TestClient) -> None:
    status = client.get("/api/sam/status").json()
    assert status == {"ready": False, "detail": SETUP, "checkpoint_hash": None, "model_type": None}
    assert client.get("/api/health").json()["sam"] == {"configured": False, "ok": False, "detail": SETUP}
    decoder = client.get("/api/sam/decoder.onnx")
    assert decoder.status_code == 503 and decoder.json() == {"detail": SETUP, "code": "sam_not_set_up"}
    project = client.post("/api/projects", json={"name": f"nosam-{uuid.uuid4().hex[:6]}"}).json()
    refused = client.post(f"/api/projects/{project['id']}/sam/prelabel", json={})
    assert refused.status_code == 422 and "No ready observation" in refused.json()["detail"]


def test_a_gpu_worker_reports_the_checkpoint_it_loaded(worker: str, sam_client: TestClient) -> None:
    health = sam_client.get("/api/health").json()
    (node,) = [n for n in health["workers"]["nodes"] if n["name"] == worker]
    assert node["sam"]["ok"] is True and "custom-64x2" in node["sam"]["detail"]
    assert health["sam"]["configured"] is True and health["sam"]["ok"] is True


def series(client: TestClient, tmp_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A site of two dates (300 x 200 px, embedded), the first approved with a Pit inside an Outline."""
    project = client.post("/api/projects", json={"name": f"sam-series-{uuid.uuid4().hex[:6]}"}).json()
    files = []
    for index in (0, 1):
        source = tmp_path / f"mine_{index:03d}.tif"
        write_geotiff(source, width=300, height=200, seed=index)
        files.append(("files", (source.name, source.read_bytes(), "image/tiff")))
    response = client.post(f"/api/projects/{project['id']}/images", files=files)
    ingest = wait_for_job(client, response.json()["job"]["id"])
    wait_for_job(client, ingest["result"]["sam_embed_job_id"])
    first, second = sorted(response.json()["observations"], key=lambda o: o["index"])
    regions = [
        {"label": "Outline", "geometry": square(20, 20, 160)},
        {"label": "Pit", "geometry": square(60, 60, 40)},
    ]
    made = client.post(f"/api/observations/{first['id']}/annotations", json={"regions": regions})
    assert made.status_code == 201, made.text
    return project, [first, second, made.json()]


def approve(engine: Engine, client: TestClient, observation_id: str) -> None:
    with Session(engine) as session:  # straight to review: who labeled it does not matter here
        session.execute(
            update(Observation)
            .where(Observation.id == uuid.UUID(observation_id))
            .values(task_state=TaskState.SUBMITTED)
        )
        session.commit()
    approved = client.post(f"/api/observations/{observation_id}/task/approve")
    assert approved.status_code == 200, approved.text


def predictions_of(client: TestClient, observation_id: str) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = client.get(
        f"/api/observations/{observation_id}/regions", params={"bbox": "0,0,300,200", "kind": "predictions"}
    ).json()["features"]
    return features


def test_batch_pre_labels_are_sam_predictions_and_a_second_run_adds_nothing(
    worker: str, sam_client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    project, (first, second, _) = series(sam_client, tmp_path)
    approve(engine, sam_client, first["id"])
    body = {
        "observation_ids": [second["id"]],
        "points_per_side": 4,
        "pred_iou_thresh": 0,
        "stability_score_thresh": 0,
    }
    job = wait_for_job(
        sam_client, sam_client.post(f"/api/projects/{project['id']}/sam/prelabel", json=body).json()["id"]
    )
    result = job["result"]
    assert (result["observations"], result["predictions"], result["skipped"]) == (1, 1, 0)
    assert result["model_version"].startswith("sam-custom-64x2-")
    features = predictions_of(sam_client, second["id"])
    assert len(features) == result["regions"] > 0
    for feature in features:
        properties = feature["properties"]
        assert properties["source"] == "sam" and properties["model_version"] == result["model_version"]
        assert properties["label"] in (None, "Pit", "Outline")  # classed by the approved date before, or not
        assert 0 <= properties["score"] <= 1
    again = wait_for_job(
        sam_client, sam_client.post(f"/api/projects/{project['id']}/sam/prelabel", json=body).json()["id"]
    )
    assert (again["result"]["skipped"], again["result"]["regions"]) == (1, 0)
    assert len(predictions_of(sam_client, second["id"])) == len(features)
    # Bad selections are refused before a job exists.
    wrong = sam_client.post(
        f"/api/projects/{project['id']}/sam/prelabel", json={"observation_ids": [str(uuid.uuid4())]}
    )
    assert wrong.status_code == 422 and "Not ready observations of this project" in wrong.json()["detail"]
    backwards = sam_client.post(
        f"/api/projects/{project['id']}/sam/prelabel",
        json={"date_from": "2021-06-01", "date_to": "2021-01-01"},
    )
    assert backwards.status_code == 422 and "is after date_to" in backwards.json()["detail"]


def test_carry_forward_links_each_approved_region_and_scores_its_change(
    worker: str, sam_client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    project, (first, second, annotation) = series(sam_client, tmp_path)
    url = f"/api/projects/{project['id']}/sam/carry-forward"
    not_yet = wait_for_job(
        sam_client, sam_client.post(url, json={"observation_ids": [second["id"]]}).json()["id"]
    )
    assert (not_yet["result"]["observations"], not_yet["result"]["skipped"]) == (
        0,
        1,
    )  # the first is not approved
    approve(engine, sam_client, first["id"])
    job = wait_for_job(sam_client, sam_client.post(url, json={}).json()["id"])
    result = job["result"]
    assert result["observations"] == 1 and result["skipped"] == 1  # the first date has no date before it
    assert result["regions"] + result["vanished"] == 2
    earlier = {r["id"]: r for r in annotation["regions"]}
    features = predictions_of(sam_client, second["id"])
    assert len(features) == result["regions"]
    for feature in features:
        properties = feature["properties"]
        source = earlier[properties["carried_from"]]
        assert properties["label"] == source["properties"]["label"] and properties["source"] == "sam"
        iou = (
            shape(source["geometry"]).intersection(shape(feature["geometry"])).area
            / shape(source["geometry"]).union(shape(feature["geometry"])).area
        )
        assert properties["change_score"] == pytest.approx(1 - iou, abs=1e-6)
    again = wait_for_job(
        sam_client, sam_client.post(url, json={"observation_ids": [second["id"]]}).json()["id"]
    )
    assert again["result"]["skipped"] == 1 and len(predictions_of(sam_client, second["id"])) == len(features)


def test_the_cli_backfills_embeddings_with_a_progress_bar(
    worker: str, sam_client: TestClient, worker_env: dict[str, str], tmp_path: Path
) -> None:
    observation, _ = upload(sam_client, tmp_path, "cli_000.tif", width=300, height=200)
    project = observation["project_id"]
    minelabel = str(REPO_ROOT / ".venv" / "bin" / "minelabel")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [minelabel, "sam-embed", project, *args],
            env=worker_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    current = run("--missing-only")
    assert current.returncode == 0, current.stderr
    assert "nothing to encode: every selected image has current embeddings" in current.stderr
    again = run()  # all of them again (after a new checkpoint, say)
    assert again.returncode == 0, again.stderr
    # The job's result, printed once it ends (the worker's last progress message shows only when a poll
    # happens to fall between it and the end: a one-image job is often done within one poll).
    assert "queued sam_embed job" in again.stderr and "done: encoded 1, skipped 0" in again.stderr
    unknown = run("--site", "atlantis")
    assert unknown.returncode == 1 and "has no site named 'atlantis'" in unknown.stderr
    prelabel = subprocess.run(
        [minelabel, "sam-prelabel", project],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert prelabel.returncode == 0, prelabel.stderr
    assert "queued sam_prelabel job" in prelabel.stderr and re.search(
        r"done: .*\bobservations 1\b", prelabel.stderr
    )
    nothing = subprocess.run(
        [minelabel, "sam-carry-forward", project, "--no-wait"],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert nothing.returncode == 0 and "queued sam_carry_forward job" in nothing.stderr
