"""The Label Studio export read back by a real consumer of the format: label-studio-sdk's Converter (run in
its own virtual environment, .venv-lssdk, which `make test` installs) converts it to COCO and to YOLO; the
polygons it finds, rasterized into class masks, cover exactly the pixels of MineLabel's own regions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rasterio.features import rasterize
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import REPO_ROOT, LimitSettings
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG
from app.models import Observation, TaskState
from app.services import annotations as annotation_service
from app.services import workflow
from tests.interop.test_label_studio import Labeled
from tests.world import make_project, make_task, make_user, region_input, square

SDK_PYTHON = REPO_ROOT / ".venv-lssdk" / "bin" / "python"
CONVERT = Path(__file__).with_name("consumers") / "ls_sdk_convert.py"


def convert(export: bytes, tmp: Path) -> dict[str, Any]:
    if not SDK_PYTHON.is_file():
        pytest.skip(f"label-studio-sdk is not installed at {SDK_PYTHON} (scripts/setup.sh installs it)")
    (tmp / "config.xml").write_text(DEFAULT_LABELING_CONFIG)
    (tmp / "export.json").write_bytes(export)
    done = subprocess.run(
        [str(SDK_PYTHON), str(CONVERT), str(tmp / "config.xml"), str(tmp / "export.json"), str(tmp / "out")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    converted: dict[str, Any] = json.loads(done.stdout)
    return converted


def mask_of(polygons: list[tuple[BaseGeometry, int]], size: tuple[int, int]) -> np.ndarray:
    mask: np.ndarray = rasterize(polygons, out_shape=size, fill=0, dtype="uint8")
    return mask


def test_label_studio_sdk_reads_the_export_into_coco_and_yolo(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    labeled = Labeled(db_session, app, tmp_path)
    export = client.get(f"/api/projects/{labeled.project.id}/export", params={"predictions": "false"}).content
    tasks = json.loads(export)
    converted = convert(export, tmp_path)

    coco = converted["coco"]
    # Sizes come from the results' original_width/height: the second task has none, so the SDK knows none.
    assert [(i["width"], i["height"]) for i in coco["images"]] == [(200, 200), (None, None)]
    names = {c["id"]: c["name"] for c in coco["categories"]}
    written = [r for t in tasks for a in t["annotations"] for r in a["result"]]
    assert len(coco["annotations"]) == len(written) == 4
    pits = [a for a in coco["annotations"] if names[a["category_id"]] == "Pit"]
    (pit,) = pits
    corners = sorted(zip(pit["segmentation"][0][::2], pit["segmentation"][0][1::2], strict=True))
    assert corners == [(20, 20), (20, 70), (70, 20), (70, 70)]  # back in pixels: square(20, 20, 50)
    assert pit["area"] == pytest.approx(2500) and pit["bbox"] == pytest.approx([20, 20, 50, 50])

    # The converter's polygons, rasterized, against MineLabel's regions (less holes: Label Studio has none).
    # Painted Outline first, Pit last, so the more specific class wins where they overlap.
    codes = {"Pit": 1, "Infrastructure": 2, "Outline": 3}

    def polygon_of(annotation: dict[str, Any]) -> tuple[BaseGeometry, int]:
        flat = annotation["segmentation"][0]
        return Polygon(zip(flat[::2], flat[1::2], strict=True)), codes[names[annotation["category_id"]]]

    theirs = mask_of(sorted(map(polygon_of, coco["annotations"]), key=lambda p: -p[1]), (200, 200))
    ours_regions = [("Outline", square(0, 0, 150)), ("Infrastructure", square(160, 160, 20)),
                    ("Infrastructure", square(100, 170, 10)), ("Pit", square(20, 20, 50))]  # fmt: skip
    ours = mask_of([(shape(geometry), codes[label]) for label, geometry in ours_regions], (200, 200))
    assert np.array_equal(theirs, ours)

    yolo = converted["yolo_labels"]
    assert set(yolo) == {"0854_000.txt", "3548_000.txt"} or "0854_000.txt" in yolo
    lines = yolo["0854_000.txt"].strip().splitlines()
    assert len(lines) == 4
    pit_class = converted["yolo_classes"].index("Pit")
    (pit_line,) = [line for line in lines if line.split()[0] == str(pit_class)]
    assert [float(v) for v in pit_line.split()[1:]] == pytest.approx(
        [0.1, 0.1, 0.35, 0.1, 0.35, 0.35, 0.1, 0.35]
    )


def test_a_task_with_two_annotations_gives_the_sdk_one_image_and_the_ground_truth_only(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    project = make_project(db_session, "two-readings")
    task = make_task(db_session, app.state.storage, project, tmp_path)
    first, second = make_user(db_session, "first"), make_user(db_session, "second")
    reviewer = make_user(db_session, "reviewer")
    readings = {
        first.id: [region_input("Pit", square(20, 20, 50)), region_input("Outline", square(0, 0, 150))],
        second.id: [region_input("Pit", square(100, 100, 40))],
    }
    made = {
        user_id: annotation_service.create_annotation(
            db_session, task, regions, LimitSettings(), user_id=user_id
        )
        for user_id, regions in readings.items()
    }
    db_session.execute(
        update(Observation).where(Observation.id == task.id).values(task_state=TaskState.SUBMITTED)
    )
    workflow.approve(db_session, task, reviewer.id, made[first.id].annotation.id)

    export = client.get(f"/api/projects/{project.id}/export", params={"predictions": "false"}).content
    (written,) = json.loads(export)
    assert [a["ground_truth"] for a in written["annotations"]] == [True]
    coco = convert(export, tmp_path)["coco"]
    assert len(coco["images"]) == 1
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes = sorted((names[a["category_id"]], a["bbox"]) for a in coco["annotations"])
    # Every polygon of the ground truth, and none of the other reading.
    assert boxes == [("Outline", pytest.approx([0, 0, 150, 150])), ("Pit", pytest.approx([20, 20, 50, 50]))]
