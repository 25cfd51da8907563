"""Retraining end to end on CPU, through the API and a real worker.

Synthetic 4-band mines on six sites and two dates each are labeled and approved; Train now freezes a dataset
split by site (test sites frozen), trains a U-Net in its own process, scores it on the test sites and
promotes it; the champion pre-labels unlabeled tasks with nested polygons that match the shapes, and orders
next task by its uncertainty. A training killed with SIGKILL mid-way resumes from its checkpoint and finishes
once; bad requests are refused and store nothing."""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from shapely.ops import unary_union
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.ml.rasterize import LabeledShape, class_masks
from app.models import Dataset, Job, JobKind, ModelVersion, Project, Site
from app.schemas.ml import DatasetManifest, DatasetParams, SplitMetrics, TrainOptions
from app.services.datasets import _draw, assign_splits, read_chip
from app.services.models import decide_promotion, round_recipe
from tests.imagery.factories import write_geotiff
from tests.jobs import wait_for_job
from tests.training.rounds import label_everything, label_next, new_project, upload
from tests.training.synthetic import make_scene
from tests.world import make_project

pytestmark = pytest.mark.slow

SITES, DATES = 6, 2
# Small and quick, yet enough for the synthetic classes (tests/training/synthetic.py).
EPOCHS = 20
OPTIONS: dict[str, Any] = {
    "epochs": EPOCHS,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "encoder": "resnet18",
    "encoder_depth": 3,
}
# IoU bars per class. The Infrastructure block is 18 x 20 px: an edge one pixel off all round costs it 0.2 of
# IoU (0.8), where the Outline loses 0.04, so its bar is lower; in runs here and in CI it scored from 0.87 to
# 0.985 on the test sites and from 0.78 to 0.94 on fresh scenes (their outlines within 2 px of the truth).
BAR = {"Pit": 0.9, "Outline": 0.9, "Infrastructure": 0.8}
DATASET = {"chip_size": 64, "stride": 64, "val_fraction": 0.2, "test_fraction": 0.2}


def regions_of(client: TestClient, observation_id: str) -> list[dict[str, Any]]:
    """The observation's predicted regions."""
    response = client.get(
        f"/api/observations/{observation_id}/regions", params={"bbox": "0,0,128,128", "kind": "predictions"}
    )
    assert response.status_code == 200, response.text
    features: list[dict[str, Any]] = response.json()["features"]
    return features


def stored(engine: Engine, project_id: str) -> tuple[int, int, int]:
    """The project's datasets, model versions and retraining jobs."""
    pid = uuid.UUID(project_id)
    kinds = [JobKind.DATASET, JobKind.TRAIN, JobKind.PREDICT]
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).where(Dataset.project_id == pid)) or 0,
            session.scalar(select(func.count()).where(ModelVersion.project_id == pid)) or 0,
            session.scalar(select(func.count()).where(Job.project_id == pid, Job.kind.in_(kinds))) or 0,
        )


def freeze_test_sites(engine: Engine, project_id: str, test_sites: set[str]) -> None:
    """Draws the sites' test split before the first dataset does. The draw hashes the sites' random ids: out
    of 6 sites it leaves from 2 to 5 to train on (and 1 to 4 to score on), so the quality bar below met a
    different split each run, and one CI run in many fell short of it (Infrastructure IoU 0.87). With the
    split fixed, a run trains 4 sites and scores 1 (validation takes 1). The draw itself is tested in
    test_two_new_sites_that_both_draw_test_keep_one_to_train_on and in the first test below (frozen, whatever
    the seed)."""
    with Session(engine) as session:
        for site in session.scalars(select(Site).where(Site.project_id == uuid.UUID(project_id))):
            site.is_test_site = site.name in test_sites
        session.commit()


def train_round(client: TestClient, project_id: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train now and wait: (the dataset job, the train job), both succeeded."""
    response = client.post(
        f"/api/projects/{project_id}/train", json={"dataset": DATASET, "options": {**OPTIONS, **options}}
    )
    assert response.status_code == 202, response.text
    dataset_job = wait_for_job(client, response.json()["id"], timeout_s=120)
    train_job = wait_for_job(client, dataset_job["result"]["train_job_id"], timeout_s=600)
    return dataset_job, train_job


@pytest.fixture(scope="module")
def trained(
    worker: str,
    committing_app: Any,
    committed_admin_key: str,
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """A project with 6 sites x 2 dates approved and a first model trained on them (the champion)."""
    tmp = tmp_path_factory.mktemp("retrain")
    with TestClient(committing_app, headers={"Authorization": f"Token {committed_admin_key}"}) as client:
        project_id = new_project(client)
        scenes = {
            f"s{site}_{date:03}.tif": make_scene(site * 10 + date)
            for site in range(SITES)
            for date in range(DATES)
        }
        upload(client, project_id, scenes, tmp)
        label_everything(client, project_id, scenes)
        freeze_test_sites(engine, project_id, {"s0"})
        dataset_job, train_job = train_round(client, project_id)
        yield {
            "client": client,
            "project_id": project_id,
            "scenes": scenes,
            "tmp": tmp,
            "dataset_job": dataset_job,
            "train_job": train_job,
        }
    with Session(engine) as session:
        session.execute(delete(Project).where(Project.id == uuid.UUID(project_id)))
        session.commit()


def test_the_dataset_is_split_by_site_with_frozen_test_sites(trained: dict[str, Any], engine: Engine) -> None:
    client, project_id = trained["client"], trained["project_id"]
    result = trained["dataset_job"]["result"]
    dataset = client.get(f"/api/datasets/{result['dataset_id']}").json()
    assert dataset["state"] == "ready" and dataset["content_hash"] == result["content_hash"]
    assert dataset["classes"] == ["Pit", "Infrastructure", "Outline"] and dataset["band_count"] == 4
    summary = dataset["summary"]
    assert sum(s["sites"] for s in summary.values()) == SITES
    assert sum(s["chips"] for s in summary.values()) == SITES * DATES * 4  # 128 px images, 64 px chips
    assert summary["test"]["sites"] >= 1 and summary["train"]["sites"] >= 1

    download = client.get(f"/api/datasets/{result['dataset_id']}/download")
    assert download.status_code == 200 and download.headers["x-content-hash"] == result["content_hash"]
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    manifest = DatasetManifest.model_validate_json(archive.read("manifest.json"))
    assert manifest.content_hash == result["content_hash"]
    split_of_site: dict[uuid.UUID, set[str]] = {}
    for chip in manifest.chips:
        split_of_site.setdefault(chip.site_id, set()).add(chip.split)
        image, masks, ignore = read_chip(archive.read(chip.key))
        assert image.shape == (4, 64, 64) and image.dtype == np.uint16
        assert masks.shape == (3, 64, 64) and masks.dtype == bool and not ignore.any()
    assert all(len(splits) == 1 for splits in split_of_site.values())  # every date of a site in one fold
    # Multi-label: Pit pixels are Outline pixels too.
    pits = np.stack([read_chip(archive.read(c.key))[1] for c in manifest.chips])
    assert (pits[:, 0] & pits[:, 2]).sum() == pits[:, 0].sum() > 0

    with Session(engine) as session:
        frozen = {
            s.id: s.is_test_site
            for s in session.scalars(select(Site).where(Site.project_id == uuid.UUID(project_id)))
        }
    test_sites = {c.site_id for c in manifest.chips if c.split == "test"}
    assert {site for site, is_test in frozen.items() if is_test} == test_sites

    again = client.post(f"/api/projects/{project_id}/datasets", json=DATASET | {"seed": 7})
    assert again.status_code == 202, again.text
    second = wait_for_job(client, again.json()["id"])["result"]
    zipped = zipfile.ZipFile(io.BytesIO(client.get(f"/api/datasets/{second['dataset_id']}/download").content))
    later = DatasetManifest.model_validate_json(zipped.read("manifest.json"))
    assert {c.site_id for c in later.chips if c.split == "test"} == test_sites  # frozen, whatever the seed


def test_a_trained_model_scores_on_the_test_sites_and_becomes_champion(trained: dict[str, Any]) -> None:
    client, project_id = trained["client"], trained["project_id"]
    result = trained["train_job"]["result"]
    assert result["promoted"] is True and "first model" in result["promotion"]
    version = client.get(f"/api/models/{result['model_version_id']}").json()
    assert version["state"] == "trained" and version["is_champion"] and version["name"] == "unet-v1"
    assert version["dataset_hash"] == trained["dataset_job"]["result"]["content_hash"]
    assert version["in_channels"] == 4 and version["classes"] == ["Pit", "Infrastructure", "Outline"]
    assert version["code_version"].startswith("minelabel ")
    assert [p["epoch"] for p in version["curve"]] == list(range(1, EPOCHS + 1))
    assert version["curve"][-1]["loss"] < version["curve"][0]["loss"]
    for score in version["metrics"]["test"]["per_class"]:
        assert score["iou"] >= BAR[score["label"]], version["metrics"]["test"]
        assert score["f1"] >= score["iou"] and score["precision"] is not None and score["recall"] is not None
    assert version["metrics"]["val"] is not None
    listed = client.get(f"/api/projects/{project_id}/models").json()
    assert [v["id"] for v in listed] == [version["id"]]

    onnx = client.get(f"/api/models/{version['id']}/model.onnx")
    assert onnx.status_code == 200
    checkpoint = client.get(f"/api/models/{version['id']}/checkpoint")
    assert checkpoint.status_code == 200 and len(checkpoint.content) > 100_000
    # The ONNX model runs without torch and finds the Pit of a scene it never saw.
    scene = make_scene(999)
    session = ort.InferenceSession(onnx.content, providers=["CPUExecutionProvider"])
    manifest = DatasetManifest.model_validate_json(
        zipfile.ZipFile(
            io.BytesIO(client.get(f"/api/datasets/{version['dataset_id']}/download").content)
        ).read("manifest.json")
    )
    mean = np.asarray(manifest.normalisation.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(manifest.normalisation.std, dtype=np.float32)[:, None, None]
    (logits,) = session.run(None, {"image": ((scene.image.astype(np.float32) - mean) / std)[None]})
    assert logits.shape == (1, 3, 128, 128)
    truth = class_masks(
        [LabeledShape(polygon, label) for label, polygon in scene.shapes], version["classes"], 128, 128
    )
    found = logits[0] > 0
    iou = (found[0] & truth[0]).sum() / (found[0] | truth[0]).sum()
    assert iou > 0.8


def test_the_champion_pre_labels_unlabeled_tasks_with_nested_polygons(trained: dict[str, Any]) -> None:
    client, project_id = trained["client"], trained["project_id"]
    fresh = {f"new{i}_000.tif": make_scene(500 + i) for i in range(3)}
    observations = upload(client, project_id, fresh, trained["tmp"])
    response = client.post(f"/api/projects/{project_id}/predict", json={})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout_s=180)
    assert job["result"]["observations"] == 3 and job["result"]["model_version"] == "unet-v1"
    assert job["result"]["km2"] > 0

    for observation in observations:
        scene = fresh[observation["original_filename"]]
        regions = regions_of(client, observation["id"])
        assert {r["properties"]["model_version"] for r in regions} == {"unet-v1"}
        assert {r["properties"]["source"] for r in regions} == {"model"}
        by_label: dict[str, Any] = {}
        for region in regions:
            by_label.setdefault(region["properties"]["label"], []).append(shape(region["geometry"]))
            assert 0 <= region["properties"]["score"] <= 1
        for label, truth in scene.shapes:
            found = unary_union(by_label[label])
            iou = found.intersection(truth).area / found.union(truth).area
            assert iou >= BAR[label] - 0.1, (label, iou)
            # The shape's own outline is pixel-aligned: the parts found on it lie within 3 px of the truth
            # everywhere. Stray parts elsewhere are the model's errors, which the IoU bar counts by their
            # area: a 20-epoch model on 4 sites left some in 3 of 17 runs here (the validation site is
            # drawn afresh each run): Outline blobs of 20-290 px in one fresh scene's corners, at IoU
            # 0.90-0.98, where a Hausdorff distance over every part would read 40 px.
            on_it = unary_union([part for part in by_label[label] if part.intersects(truth)])
            assert on_it.hausdorff_distance(truth) <= 3, (label, on_it.hausdorff_distance(truth))
        outline = unary_union(by_label["Outline"])
        for label in ("Pit", "Infrastructure"):
            for part in by_label[label]:
                assert outline.buffer(1e-6).contains(part), label  # nested in the mine's grounds
    # The model's mining areas per site and date, as GeoJSON: its predictions only.
    exported = client.get(
        f"/api/projects/{project_id}/export",
        params={"format": "geojson", "annotations": "none", "model_version": "unet-v1", "all_states": "true"},
    )
    assert exported.status_code == 200, exported.text
    features = exported.json()["features"]
    assert {f["properties"]["kind"] for f in features} == {"prediction"}
    assert {f["properties"]["model_version"] for f in features} == {"unet-v1"}
    assert {f["properties"]["site"] for f in features} == {"new0", "new1", "new2"}
    assert len(features) == sum(len(regions_of(client, o["id"])) for o in observations)
    assert all(f["properties"]["area_ha"] > 0 for f in features)  # georeferenced images: areas on the ground
    none = client.get(
        f"/api/projects/{project_id}/export",
        params={"format": "geojson", "annotations": "none", "model_version": "unet-v9", "all_states": "true"},
    )
    assert none.json()["features"] == []

    again = client.post(
        f"/api/projects/{project_id}/predict", json={"observation_ids": [o["id"] for o in observations]}
    )
    assert wait_for_job(client, again.json()["id"])["result"]["skipped"] == 3  # idempotent per version

    listed = client.get(
        f"/api/projects/{project_id}/tasks", params={"sort": "uncertainty", "state": "new"}
    ).json()
    values = [t["uncertainty"] for t in listed["items"]]
    assert len(values) == 3 and all(v is not None and 0 <= v <= 1 for v in values)
    assert values == sorted(values, reverse=True)
    assert {t["uncertainty_model"] for t in listed["items"]} == {"unet-v1"}

    patched = client.patch(f"/api/projects/{project_id}", json={"next_task_order": "uncertainty"})
    assert patched.status_code == 200 and patched.json()["next_task_order"] == "uncertainty"
    handout = client.post(f"/api/projects/{project_id}/tasks/next").json()
    assert handout["task"]["observation_id"] == listed["items"][0]["observation_id"]
    client.post(f"/api/observations/{handout['task']['observation_id']}/task/release")


def scratch_pid(settings: Settings, job_id: str, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in settings.jobs.scratch_dir.glob(f"{job_id}-*/train.pid"):
            return int(path.read_text())
        time.sleep(0.2)
    raise AssertionError("the training process did not start")


def test_a_killed_training_resumes_from_its_checkpoint_and_finishes_once(
    trained: dict[str, Any], settings: Settings
) -> None:
    client, project_id = trained["client"], trained["project_id"]
    response = client.post(
        f"/api/projects/{project_id}/train",
        json={"dataset": DATASET, "options": {**OPTIONS, "epochs": 8, "seed": 1}},
    )
    assert response.status_code == 202, response.text
    busy = client.post(f"/api/projects/{project_id}/train", json={})
    assert busy.status_code == 409 and busy.json()["code"] == "training_round_running"
    train_id = wait_for_job(client, response.json()["id"])["result"]["train_job_id"]
    version_id = client.get(f"/api/jobs/{train_id}").json()["params"]["model_version_id"]
    pid = scratch_pid(settings, train_id)
    deadline = time.monotonic() + 300
    while len(curve := client.get(f"/api/models/{version_id}").json()["curve"]) < 2:
        assert time.monotonic() < deadline, "no epoch recorded"
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)  # mid-way through the next epoch

    job = wait_for_job(client, train_id, timeout_s=600)
    first = job["attempt_log"][0]
    assert job["attempts"] == 2 and first["outcome"] == "retrying" and "killed (signal 9)" in first["reason"]
    version = client.get(f"/api/models/{version_id}").json()
    epochs = [p["epoch"] for p in version["curve"]]
    assert epochs == list(range(1, 9))  # every epoch once
    assert version["curve"][: len(curve)] == curve  # the epochs before the kill were not trained again
    assert version["state"] == "trained" and version["metrics"]["champion_test"] is not None
    # Compared with the champion on the same test chips; the rule decided.
    promoted, reason = decide_promotion(
        SplitMetrics.model_validate(version["metrics"]["test"]),
        SplitMetrics.model_validate(version["metrics"]["champion_test"]),
        margin=0.01,
        max_drop=0.02,
    )
    assert (version["is_champion"], version["promotion"]) == (promoted, reason)
    assert job["result"]["promoted"] is promoted


def test_promote_and_roll_back_by_hand(trained: dict[str, Any]) -> None:
    client, project_id = trained["client"], trained["project_id"]
    versions = {v["name"]: v for v in client.get(f"/api/projects/{project_id}/models").json()}
    first, second = versions["unet-v1"], versions["unet-v2"]
    promoted = client.post(f"/api/models/{second['id']}/promote")
    assert promoted.status_code == 200 and promoted.json()["is_champion"]
    assert not client.get(f"/api/models/{first['id']}").json()["is_champion"]
    back = client.post(f"/api/projects/{project_id}/models/roll-back")
    assert back.status_code == 200 and back.json()["name"] == "unet-v1" and back.json()["is_champion"]
    assert back.json()["promotion"] == "rolled back from unet-v2"


def test_a_cancelled_training_is_cancelled_and_cannot_be_promoted(
    trained: dict[str, Any], settings: Settings
) -> None:
    client, project_id = trained["client"], trained["project_id"]
    response = client.post(
        f"/api/projects/{project_id}/train", json={"dataset": DATASET, "options": {**OPTIONS, "epochs": 50}}
    )
    train_id = wait_for_job(client, response.json()["id"])["result"]["train_job_id"]
    version_id = client.get(f"/api/jobs/{train_id}").json()["params"]["model_version_id"]
    deadline = time.monotonic() + 300
    while not client.get(f"/api/models/{version_id}").json()["curve"]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.post(f"/api/jobs/{train_id}/cancel").status_code == 200
    while client.get(f"/api/jobs/{train_id}").json()["state"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    version = client.get(f"/api/models/{version_id}").json()
    assert version["state"] == "cancelled" and not version["is_champion"]
    refused = client.post(f"/api/models/{version_id}/promote")
    assert refused.status_code == 409 and "cancelled" in refused.json()["detail"]
    predicted = client.post(f"/api/projects/{project_id}/predict", json={"model_version_id": version_id})
    assert predicted.status_code == 409 and "only a trained model" in predicted.json()["detail"]
    assert not list(settings.jobs.scratch_dir.glob(f"{train_id}-*"))  # its scratch folder is gone


def test_bad_requests_are_refused_and_store_nothing(
    worker: str, committing_client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    client = committing_client
    project_id = new_project(client)
    refused = client.post(f"/api/projects/{project_id}/train", json={})
    assert refused.status_code == 422 and "no approved task" in refused.json()["detail"]
    nothing = client.post(f"/api/projects/{project_id}/predict", json={})
    assert nothing.status_code == 422 and "No ready observation" in nothing.json()["detail"]

    one_site = {f"only_{d:03}.tif": make_scene(700 + d) for d in range(2)}
    upload(client, project_id, one_site, tmp_path)
    no_model = client.post(f"/api/projects/{project_id}/predict", json={})
    assert no_model.status_code == 409 and "no champion model yet" in no_model.json()["detail"]
    label_everything(client, project_id, one_site)
    refused = client.post(f"/api/projects/{project_id}/train", json={})
    assert refused.status_code == 422 and "at least two sites" in refused.json()["detail"]
    refused = client.post(f"/api/projects/{project_id}/datasets", json={"chip_size": 64, "stride": 128})
    assert refused.status_code == 422 and "stride" in refused.text

    another_site = {"other_000.tif": make_scene(800)}
    upload(client, project_id, another_site, tmp_path)
    label_everything(client, project_id, another_site)
    three = tmp_path / "rgb_000.tif"
    write_geotiff(three, width=128, height=128, count=3)
    response = client.post(
        f"/api/projects/{project_id}/images",
        files=[("files", (three.name, three.read_bytes(), "image/tiff"))],
    )
    wait_for_job(client, response.json()["job"]["id"])
    label_everything(client, project_id, {"rgb_000.tif": make_scene(801)})
    refused = client.post(f"/api/projects/{project_id}/train", json={})
    assert (
        refused.status_code == 422
        and "different numbers of bands: 3 (rgb_000.tif), 4" in refused.json()["detail"]
    )
    assert stored(engine, project_id) == (0, 0, 0)


def round_jobs(engine: Engine, project_id: str) -> list[Job]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Job)
                .where(
                    Job.project_id == uuid.UUID(project_id), Job.kind.in_([JobKind.DATASET, JobKind.TRAIN])
                )
                .order_by(Job.created_at)
            )
        )


def test_enough_new_approvals_queue_one_automatic_round_at_a_time(
    worker: str, committing_client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    client = committing_client
    project_id = new_project(client)
    scenes = {
        f"{site}_{d:03}.tif": make_scene(900 + 10 * i + d) for i, site in enumerate("ab") for d in range(2)
    }
    upload(client, project_id, scenes, tmp_path)
    patched = client.patch(f"/api/projects/{project_id}", json={"auto_train_every": 2})
    assert patched.status_code == 200 and patched.json()["auto_train_every"] == 2

    assert label_next(client, project_id, scenes)
    assert round_jobs(engine, project_id) == []  # one approval of the two asked for
    assert label_next(client, project_id, scenes)
    assert label_next(client, project_id, scenes)
    # The round starts at the second approval, or at the third where the first two were of one site (no
    # dataset can be split by site yet); the fourth finds it under way and starts none.
    assert label_next(client, project_id, scenes)
    jobs = round_jobs(engine, project_id)
    assert [job.kind for job in jobs][:1] == [JobKind.DATASET] and len(
        [job for job in jobs if job.kind is JobKind.DATASET]
    ) == 1, [(job.kind, job.state) for job in jobs]
    dataset_job = jobs[0]
    assert dataset_job.created_by is None  # queued by the approvals, not by a person

    for job in jobs:
        client.post(f"/api/jobs/{job.id}/cancel")
    deadline = time.monotonic() + 120
    while any(job.state.value in ("queued", "running") for job in round_jobs(engine, project_id)):
        assert time.monotonic() < deadline
        for job in round_jobs(engine, project_id):  # a training the dataset queued meanwhile
            if job.state.value in ("queued", "running"):
                client.post(f"/api/jobs/{job.id}/cancel")
        time.sleep(0.5)
    off = client.patch(f"/api/projects/{project_id}", json={"auto_train_every": None})
    assert off.status_code == 200 and off.json()["auto_train_every"] is None


def test_two_new_sites_that_both_draw_test_keep_one_to_train_on(db_session: Session) -> None:
    project = make_project(db_session, "draw")
    params = DatasetParams()
    unlucky = (i for i in iter(uuid.uuid4, None) if _draw(i, 0, "test") < params.test_fraction)
    sites = [Site(id=next(unlucky), project_id=project.id, name=f"s{n}") for n in range(2)]
    db_session.add_all(sites)
    db_session.flush()

    splits = assign_splits(db_session, sites, params)

    last = max(sites, key=lambda s: _draw(s.id, 0, "test"))
    assert splits[last.id] == "train" and last.is_test_site is False
    assert [splits[s.id] for s in sites if s is not last] == ["test"]
    # Frozen: drawn again, with another seed, the split stays.
    assert assign_splits(db_session, sites, params.model_copy(update={"seed": 3})) == splits


def test_an_automatic_round_repeats_the_last_rounds_recipe() -> None:
    assert round_recipe(None) == (DatasetParams(), TrainOptions())
    chosen = TrainOptions(epochs=3, encoder="resnet18", encoder_depth=3)
    last = Dataset(params=DatasetParams(chip_size=64, stride=64, then_train=chosen).model_dump(mode="json"))
    params, options = round_recipe(last)
    assert (params.chip_size, params.stride, params.then_train) == (64, 64, None)
    assert options == chosen


def test_the_promotion_rule() -> None:
    def metrics(**ious: float) -> SplitMetrics:
        return SplitMetrics.model_validate(
            {
                "mean_iou": sum(ious.values()) / len(ious),
                "per_class": [
                    {"label": k, "iou": v, "f1": None, "precision": None, "recall": None}
                    for k, v in ious.items()
                ],
            }
        )

    champion = metrics(Pit=0.80, Outline=0.90)
    assert decide_promotion(metrics(Pit=0.85, Outline=0.91), champion, margin=0.01, max_drop=0.02)[0]
    worse, why = decide_promotion(metrics(Pit=0.79, Outline=0.89), champion, margin=0.01, max_drop=0.02)
    assert not worse and "not better by 0.010" in why
    one_class, why = decide_promotion(metrics(Pit=0.99, Outline=0.85), champion, margin=0.01, max_drop=0.02)
    assert not one_class and "Outline fell by 0.050" in why
    assert decide_promotion(metrics(Pit=0.5), None, margin=0.01, max_drop=0.02)[0]
    assert not decide_promotion(None, champion, margin=0.01, max_drop=0.02)[0]
