"""COCO and PNG class-mask exports through the API, on real PostGIS: COCO's structure and geometry, the mask
values pixel by pixel (overlaps, holes, the pixel-centre rule), chips that add up to the whole mask, and
image chips that match the rendered COG pixel for pixel."""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import rasterio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.config import LimitSettings, TileSettings
from app.imagery.storage import observation_prefix
from app.interop import coco as coco_module
from app.interop import masks as masks_module
from app.interop.exports import ExportOptions
from app.interop.selection import Selection, task_batches
from app.models import Annotation, GeorefSource, Observation, ObservationStatus, Project, Site, TaskState
from app.services import annotations as annotation_service
from app.services import exports as export_service
from app.services.imagery_processing import process_observations
from app.services.predictions import create_prediction
from tests.world import make_project, make_task, make_user, region_input, square, two_parts, with_hole

LIMITS = LimitSettings()
PIT, INFRASTRUCTURE, OUTLINE = 1, 2, 3


def set_state(session: Session, task: Observation, state: TaskState) -> None:
    session.execute(update(Observation).where(Observation.id == task.id).values(task_state=state))
    session.commit()


class Scene:
    """Four tasks: 0854/0 approved, labeled by two people (the first updated last; overlapping classes);
    0854/1 approved with a polygon with a hole and a two-part region; 3548/0 approved, unlabeled;
    0854/2 in progress."""

    def __init__(self, session: Session, app: FastAPI, tmp: Path, *, real_image: bool = False) -> None:
        self.project = make_project(session, "coco")
        self.annotator, self.other = make_user(session, "ann"), make_user(session, "ann2")
        storage = app.state.storage
        self.first = make_task(
            session, storage, self.project, tmp, site="0854", index=0, real_image=real_image
        )
        self.second = make_task(session, storage, self.project, tmp, site="0854", index=1)
        self.unlabeled = make_task(session, storage, self.project, tmp, site="3548", index=0)
        self.in_progress = make_task(session, storage, self.project, tmp, site="0854", index=2)
        regions = [
            region_input("Pit", square(20, 20, 50)),  # overlaps the Outline on [40, 70)
            region_input("Outline", square(40, 40, 100)),
            region_input("Infrastructure", square(150, 10, 30)),
            region_input("Pit", square(100.4, 150.6, 10)),  # not on pixel edges: the pixel-centre rule
        ]
        self.annotation = annotation_service.create_annotation(
            session, self.first, regions, LIMITS, user_id=self.annotator.id
        ).annotation
        self.pit_id = next(
            r.id for r in annotation_service.live_regions(session, self.annotation.id) if r.area_px == 2500
        )
        older = annotation_service.create_annotation(
            session, self.first, [region_input("Pit", square(0, 0, 10))], LIMITS, user_id=self.other.id
        ).annotation
        session.execute(
            update(Annotation)
            .where(Annotation.id == older.id)
            .values(updated_at=datetime.now(UTC) - timedelta(days=1))
        )
        holed = [region_input("Infrastructure", with_hole()), region_input("Pit", two_parts())]
        annotation_service.create_annotation(session, self.second, holed, LIMITS, user_id=self.annotator.id)
        annotation_service.create_annotation(
            session,
            self.in_progress,
            [region_input("Pit", square(0, 0, 50))],
            LIMITS,
            user_id=self.annotator.id,
        )
        create_prediction(
            session, self.first, "sam-vit-b", 0.8, [region_input("Pit", square(120, 120, 40))], LIMITS
        )
        for task in (self.first, self.second, self.unlabeled):
            set_state(session, task, TaskState.APPROVED)
        set_state(session, self.in_progress, TaskState.IN_PROGRESS)


@pytest.fixture
def scene(db_session: Session, app: FastAPI, tmp_path: Path) -> Scene:
    return Scene(db_session, app, tmp_path)


def get_export(client: TestClient, project: Project, fmt: str, **params: Any) -> bytes:
    response = client.get(f"/api/projects/{project.id}/export", params={"format": fmt, **params})
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["content-disposition"].endswith(f'.{"json" if fmt == "coco" else "zip"}"')
    return response.content


def coco(client: TestClient, project: Project, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(get_export(client, project, "coco", **params))
    return body


def points(polygon: list[float]) -> set[tuple[float, float]]:
    assert len(polygon) % 2 == 0
    return set(zip(polygon[::2], polygon[1::2], strict=True))


# --- COCO ---------------------------------------------------------------------------------------------


def test_coco_structure_images_and_categories(client: TestClient, scene: Scene) -> None:
    body = coco(client, scene.project)
    assert list(body) == ["info", "licenses", "categories", "images", "annotations", "minelabel_report"]
    assert body["info"]["minelabel_project_id"] == str(scene.project.id)
    assert body["categories"] == [
        {"id": 1, "name": "Pit", "supercategory": "mine"},
        {"id": 2, "name": "Infrastructure", "supercategory": "mine"},
        {"id": 3, "name": "Outline", "supercategory": "mine"},
    ]
    images = body["images"]
    assert [(i["id"], i["file_name"], i["minelabel_site"]) for i in images] == [
        (1, "0854_000.tif", "0854"), (2, "0854_001.tif", "0854"), (3, "3548_000.tif", "3548"),
    ]  # fmt: skip
    assert images[0]["minelabel_observation_id"] == str(scene.first.id)
    assert (images[0]["width"], images[0]["height"], images[0]["acquired_on"]) == (200, 200, None)
    annotations = body["annotations"]
    # Each task's ground truth only (the first task's 4 regions, 2 on the second); never the other person's
    # annotation of the first task, the prediction, nor 0854/2.
    assert [a["id"] for a in annotations] == list(range(1, 7))
    assert [a["image_id"] for a in annotations] == [1] * 4 + [2] * 2
    assert all(a["iscrowd"] == 0 for a in annotations)
    assert {a["minelabel_annotation_id"] for a in annotations[:4]} == {str(scene.annotation.id)}
    # Every annotation, on request: both people's regions on the first task (4 + 1).
    everyone = coco(client, scene.project, annotations="all")["annotations"]
    assert [a["image_id"] for a in everyone] == [1] * 5 + [2] * 2
    owners = [a["minelabel_annotation_id"] for a in everyone[:5]]
    assert owners.count(str(scene.annotation.id)) == 4 and len(set(owners)) == 2


def test_coco_geometry_of_a_square_a_hole_and_two_parts(client: TestClient, scene: Scene) -> None:
    body = coco(client, scene.project)
    by_region = {a["minelabel_region_id"]: a for a in body["annotations"]}
    pit = by_region[str(scene.pit_id)]
    assert (pit["image_id"], pit["category_id"], pit["area"], pit["bbox"]) == (1, PIT, 2500, [20, 20, 50, 50])
    (ring,) = pit["segmentation"]
    assert len(ring) == 8 and points(ring) == {(20, 20), (70, 20), (70, 70), (20, 70)}  # not closed

    second = [a for a in body["annotations"] if a["image_id"] == 2]
    holed = next(a for a in second if a["category_id"] == INFRASTRUCTURE)
    assert holed["area"] == 150 * 150 - 20 * 20  # the true area, the hole subtracted
    (outer,) = holed["segmentation"]
    assert points(outer) == {(0, 0), (150, 0), (150, 150), (0, 150)}  # the hole is gone
    assert holed["bbox"] == [0, 0, 150, 150]
    parts = next(a for a in second if a["category_id"] == PIT)
    assert len(parts["segmentation"]) == 2 and parts["area"] == 400 + 100
    assert parts["bbox"] == [100, 160, 80, 20]
    assert sorted(map(points, parts["segmentation"]), key=min) == [
        {(100, 170), (110, 170), (110, 180), (100, 180)},
        {(160, 160), (180, 160), (180, 180), (160, 180)},
    ]
    report = body["minelabel_report"]
    assert (report["holes_dropped"], report["hole_area_px"], report["regions"], report["polygons"]) == (
        1, 400, 6, 7,
    )  # fmt: skip
    assert any("hole" in note for note in report["notes"])


def test_coco_filters(client: TestClient, scene: Scene) -> None:
    pits = coco(client, scene.project, label="Pit")
    assert len(pits["categories"]) == 3  # ids stay those of the config
    assert {a["category_id"] for a in pits["annotations"]} == {PIT}
    assert len(pits["annotations"]) == 3  # the ground truths' Pits: two on the first task, one on the second
    mine = coco(client, scene.project, annotator=str(scene.other.id))
    assert [(a["image_id"], a["area"]) for a in mine["annotations"]] == [(1, 100)]
    everything = coco(client, scene.project, all_states="true")
    assert len(everything["images"]) == 4
    assert [i["file_name"] for i in everything["images"]][:3] == [
        "0854_000.tif",
        "0854_001.tif",
        "0854_002.tif",
    ]
    assert {a["image_id"] for a in everything["annotations"]} == {1, 2, 3}
    empty = coco(client, scene.project, state="rejected")
    assert (empty["images"], empty["annotations"]) == ([], [])


def test_coco_report_and_progress(db_session: Session, app: FastAPI, scene: Scene, tmp_path: Path) -> None:
    done: list[int] = []
    ctx, fmt = export_service.prepare(
        db_session, scene.project.id, "coco", Selection(), ExportOptions(), app.state.storage, TileSettings(),
        on_progress=done.append,
    )  # fmt: skip
    report = export_service.write_file(ctx, fmt, tmp_path / "out.json")
    assert (report.tasks, report.annotations, report.regions, report.predictions) == (3, 2, 6, 0)
    assert report.holes_dropped == 1 and report.hole_area_px == 400
    assert done == [3]
    assert orjson.loads((tmp_path / "out.json").read_bytes())["minelabel_report"]["tasks"] == 3


# --- Masks --------------------------------------------------------------------------------------------


def read_png(data: bytes) -> np.ndarray:
    with MemoryFile(data) as memory, memory.open() as dataset:
        assert dataset.driver == "PNG"
        array: np.ndarray = dataset.read()
    return array


def masks_zip(client: TestClient, project: Project, **params: Any) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(get_export(client, project, "masks", **params)))
    assert archive.testzip() is None
    return archive


def expected_first_mask() -> np.ndarray:
    expected = np.zeros((200, 200), dtype=np.uint8)
    expected[40:140, 40:140] = OUTLINE
    expected[10:40, 150:180] = INFRASTRUCTURE
    expected[20:70, 20:70] = PIT  # over the Outline where they overlap
    expected[151:161, 100:110] = PIT  # x 100.4-110.4, y 150.6-160.6: pixels whose centre lies inside
    return expected


def test_masks_zip_contents_and_pixel_values(client: TestClient, scene: Scene) -> None:
    archive = masks_zip(client, scene.project)
    assert archive.namelist() == [
        "README.txt", "classes.json", "masks/0854/0854_000.png", "masks/0854/0854_001.png",
        "masks/3548/3548_000.png", "manifest.csv", "report.json",
    ]  # fmt: skip
    assert orjson.loads(archive.read("classes.json")) == {
        "0": "background", "1": "Pit", "2": "Infrastructure", "3": "Outline",
    }  # fmt: skip
    readme = archive.read("README.txt").decode()
    assert "Pit over Infrastructure over Outline" in readme and "ground truth" in readme

    first = read_png(archive.read("masks/0854/0854_000.png"))
    assert first.shape == (1, 200, 200) and first.dtype == np.uint8
    # The annotator's (updated last) annotation only: the other person's Pit at (0, 0) is not painted.
    np.testing.assert_array_equal(first[0], expected_first_mask())

    second = read_png(archive.read("masks/0854/0854_001.png"))[0]
    expected = np.zeros((200, 200), dtype=np.uint8)
    expected[0:150, 0:150] = INFRASTRUCTURE
    expected[60:80, 60:80] = 0  # the hole stays background
    expected[160:180, 160:180] = PIT
    expected[170:180, 100:110] = PIT
    np.testing.assert_array_equal(second, expected)
    assert not read_png(archive.read("masks/3548/3548_000.png")).any()

    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [(m["file"], m["kind"], m["site"]) for m in manifest] == [
        ("masks/0854/0854_000.png", "mask", "0854"), ("masks/0854/0854_001.png", "mask", "0854"),
        ("masks/3548/3548_000.png", "mask", "3548"),
    ]  # fmt: skip
    assert manifest[0]["observation_id"] == str(scene.first.id)
    assert manifest[0]["annotation_id"] == str(scene.annotation.id) and manifest[2]["annotation_id"] == ""
    report = orjson.loads(archive.read("report.json"))
    assert (report["tasks"], report["annotations"], report["regions"]) == (3, 2, 6)


def test_masks_follow_the_label_filter_and_the_annotator_choice(
    client: TestClient, db_session: Session, scene: Scene
) -> None:
    outline = masks_zip(client, scene.project, label="Outline")
    first = read_png(outline.read("masks/0854/0854_000.png"))[0]
    expected = np.zeros((200, 200), dtype=np.uint8)
    expected[40:140, 40:140] = OUTLINE
    np.testing.assert_array_equal(first, expected)

    # The other person's annotation, updated last now, is the one painted.
    older = db_session.query(Annotation).filter_by(observation_id=scene.first.id, created_by=scene.other.id)
    older.update({"updated_at": datetime.now(UTC) + timedelta(days=1)})
    db_session.commit()
    archive = masks_zip(client, scene.project)
    first = read_png(archive.read("masks/0854/0854_000.png"))[0]
    expected = np.zeros((200, 200), dtype=np.uint8)
    expected[0:10, 0:10] = PIT
    np.testing.assert_array_equal(first, expected)


def chips_of(
    archive: zipfile.ZipFile, folder: str, stem: str, rows: int, cols: int
) -> list[list[np.ndarray]]:
    return [
        [read_png(archive.read(f"{folder}/{stem}_r{r}_c{c}.png")) for c in range(cols)] for r in range(rows)
    ]


def test_mask_chips_add_up_to_the_padded_mask(client: TestClient, scene: Scene) -> None:
    archive = masks_zip(client, scene.project, chip_size=64)
    names = archive.namelist()
    chips = sorted(n for n in names if n.startswith("chips/0854/0854_000_"))
    assert len(chips) == 16 and "chips/0854/0854_000_r3_c3.png" in chips
    assert "masks/0854/0854_000.png" in names  # whole masks too
    assert not [n for n in names if n.startswith("images/")]  # these tasks have no COG
    grid = chips_of(archive, "chips/0854", "0854_000", 4, 4)
    assert all(chip.shape == (1, 64, 64) for row in grid for chip in row)
    whole = np.block([[chip[0] for chip in row] for row in grid])
    padded = np.zeros((256, 256), dtype=np.uint8)
    padded[:200, :200] = expected_first_mask()
    np.testing.assert_array_equal(whole, padded)
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    last = next(m for m in manifest if m["file"] == "chips/0854/0854_000_r3_c2.png")
    assert (last["kind"], last["chip_row"], last["chip_col"], last["x_offset"], last["y_offset"]) == (
        "mask_chip", "3", "2", "128", "192",
    )  # fmt: skip
    report = orjson.loads(archive.read("report.json"))
    assert any("no COG" in note and "0854/0854_000.tif" in note for note in report["notes"])
    assert len(masks_zip(client, scene.project, chip_size=200).namelist()) == 7 + 3  # one chip per image


@pytest.mark.slow
def test_image_chips_match_the_rendered_cog(
    client: TestClient, db_session: Session, app: FastAPI, tmp_path: Path
) -> None:
    scene = Scene(db_session, app, tmp_path, real_image=True)
    archive = masks_zip(client, scene.project, chip_size=64)
    names = archive.namelist()
    images = sorted(n for n in names if n.startswith("images/"))
    assert images == sorted(
        n.replace("chips/", "images/") for n in names if n.startswith("chips/0854/0854_000")
    )
    assert len(images) == 16
    db_session.refresh(scene.first)
    assert scene.first.cog_key is not None
    with rasterio.open(app.state.storage.raster_path(scene.first.cog_key)) as cog:
        source = cog.read()
    assert source.shape == (3, 200, 200)
    padded = np.zeros((3, 256, 256), dtype=np.uint8)
    padded[:, :200, :200] = source
    inside = np.zeros((256, 256), dtype=bool)
    inside[:200, :200] = True
    grid = chips_of(archive, "images/0854", "0854_000", 4, 4)
    for r, row in enumerate(grid):
        for c, chip in enumerate(row):
            assert chip.shape == (4, 64, 64) and chip.dtype == np.uint8  # RGB + alpha
            window = np.s_[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64]
            alpha = chip[3]
            np.testing.assert_array_equal(alpha, np.where(inside[window], 255, 0))
            np.testing.assert_array_equal(
                chip[:3][:, alpha > 0], padded[(slice(None), *window)][:, alpha > 0]
            )
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sum(m["kind"] == "image_chip" for m in manifest) == 16
    without = masks_zip(client, scene.project, chip_size=64, chip_images="false")
    assert not [n for n in without.namelist() if n.startswith("images/")]


# --- Seed imagery -------------------------------------------------------------------------------------


def seed_observation(session: Session, app: FastAPI, project: Project, png: Path) -> Observation:
    """The seed PNG as a ready observation with its COG, as an ingest would make it."""
    storage = app.state.storage
    site = Site(project_id=project.id, name=png.stem.split("_")[0])
    session.add(site)
    session.flush()
    with rasterio.open(png) as src:
        width, height, count = src.width, src.height, src.count
    observation = Observation(
        project_id=project.id, site_id=site.id, index=0, original_filename=png.name,
        content_hash=f"seed-{png.name}", size_bytes=png.stat().st_size, driver="PNG", width=width,
        height=height, band_count=count - 1, band_names=["red", "green", "blue"], dtype="uint8",
        has_alpha=True, georef_source=GeorefSource.NONE, status=ObservationStatus.PROCESSING,
        original_key="none",
    )  # fmt: skip
    session.add(observation)
    session.flush()
    observation.original_key = f"{observation_prefix(project.id, observation.id)}/original.png"
    storage.put_file(png, observation.original_key)
    session.commit()
    process_observations(session, storage, [observation.id], TileSettings(), lambda *_: None, png.parent)
    session.refresh(observation)
    assert observation.status is ObservationStatus.READY
    return observation


@pytest.mark.seed
@pytest.mark.slow
def test_seed_png_exports_training_chips(
    client: TestClient, db_session: Session, app: FastAPI, seed_data: Path, tmp_path: Path
) -> None:
    png = tmp_path / "0854_000.png"
    shutil.copyfile(seed_data / "minetracking2021" / "0854_000.png", png)
    project = make_project(db_session, "seed-masks")
    observation = seed_observation(db_session, app, project, png)
    annotator = make_user(db_session, "ann")
    annotation_service.create_annotation(
        db_session, observation, [region_input("Pit", square(300, 500, 100))], LIMITS, user_id=annotator.id
    )
    set_state(db_session, observation, TaskState.APPROVED)
    archive = masks_zip(client, project, chip_size=256)
    # 1000 x 1000 px: a 4 x 4 grid of 256 px chips; the Pit (x 300-400, y 500-600) lies in chip r1/r2, c1.
    assert len([n for n in archive.namelist() if n.startswith("chips/0854/")]) == 16
    chip = read_png(archive.read("chips/0854/0854_000_r2_c1.png"))[0]
    expected = np.zeros((256, 256), dtype=np.uint8)
    expected[0:88, 44:144] = PIT  # rows 512-599, columns 300-399
    np.testing.assert_array_equal(chip, expected)
    image = read_png(archive.read("images/0854/0854_000_r2_c1.png"))
    with rasterio.open(png) as src:
        source = src.read(window=((512, 768), (256, 512)))
    assert image.shape == (4, 256, 256)
    np.testing.assert_array_equal(image[3], source[3])  # the PNG's own alpha
    valid = source[3] > 0
    np.testing.assert_array_equal(image[:3][:, valid], source[:3][:, valid])
    assert image[:3].any()
    edge = read_png(archive.read("images/0854/0854_000_r3_c3.png"))
    assert not edge[3][232:, :].any() and not edge[3][:, 232:].any()  # 1000 = 3 * 256 + 232: padding


def test_batches_of_one_task_give_the_same_files(
    client: TestClient, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole_coco = get_export(client, scene.project, "coco")
    whole_masks = get_export(client, scene.project, "masks", chip_size=128)

    def one_by_one(*args: Any, **kwargs: Any) -> Any:
        return task_batches(*args, **{**kwargs, "batch": 1})

    monkeypatch.setattr(coco_module, "task_batches", one_by_one)
    monkeypatch.setattr(masks_module, "task_batches", one_by_one)
    assert get_export(client, scene.project, "coco") == whole_coco
    assert get_export(client, scene.project, "masks", chip_size=128) == whole_masks  # and it is reproducible
