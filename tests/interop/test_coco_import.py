"""COCO import through the API, on real PostGIS: polygons (several per annotation), RLE masks (uncompressed
counts and pycocotools' compressed strings) compared pixel by pixel with the masks they came from, files in
the shapes Roboflow and CVAT export, category mapping, every kind of bad file (refused whole, nothing stored),
re-imports, files sent as the wrong format, and a COCO file over a real Sentinel-2 image of the seed data."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from shapely import geometry as shp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.interop.rle import counts_from_string, counts_to_string
from app.ml.rasterize import LabeledShape, class_masks
from app.models import Annotation, Observation, Prediction, Project, Region, Site, TaskState
from tests.world import make_project, make_task

CLASSES = ["Pit", "Infrastructure", "Outline"]

# Masks of a 200 x 200 image and their RLE as pycocotools 2.0.11 writes it
# (mask.encode(np.asfortranarray(m))["counts"]), so the decoder is checked against the reference code.
HOLED = np.zeros((200, 200), bool)
HOLED[10:60, 120:180] = True  # 50 rows x 60 columns = 3,000 px
HOLED[30:40, 140:150] = False  # a 100 px hole: 2,900 px
HOLED_COUNTS = (
    "Z^g0b1f400000000000000000000000000000000000000ROdK0\\40dK0\\40dK0\\40dK0\\40dK0\\40dK0\\40dK0\\40"
    "dK0\\40dK0\\40dK0\\4n00000000000000000000000000000000000000000000000000000000000fl3"
)
ELL = np.zeros((200, 200), bool)
ELL[150:190, 10:30] = True  # 40 x 20 = 800 px
ELL[170:190, 30:60] = True  # 20 x 30 = 600 px: an L of 1,400 px
ELL_COUNTS = (
    "VS2X1P50000000000000000000000000000000000000d0\\O"
    "0000000000000000000000000000000000000000000000000000000000fUk0"
)


def rle_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE of a mask, written here the way the format defines it: column by column
    (Fortran order), runs of 0s and 1s alternating, starting with 0s."""
    flat = mask.flatten(order="F").astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], changes, [flat.size]])
    runs = np.diff(edges).tolist()
    return [0, *runs] if flat[0] else runs


def flat(*points: tuple[float, float]) -> list[float]:
    return [v for point in points for v in point]


def box(x: float, y: float, width: float, height: float) -> list[float]:
    """A COCO polygon: the rectangle's corners as [x1, y1, x2, y2, ...] (not closed)."""
    return flat((x, y), (x + width, y), (x + width, y + height), (x, y + height))


def coco(
    images: list[dict[str, Any]], annotations: list[dict[str, Any]], categories: list[dict[str, Any]]
) -> bytes:
    return orjson.dumps({"images": images, "annotations": annotations, "categories": categories})


def image(ident: int, name: str, width: int = 200, height: int = 200) -> dict[str, Any]:
    return {"id": ident, "file_name": name, "width": width, "height": height}


def annotation(ident: int, image_id: int, category_id: int, segmentation: Any, **more: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "image_id": image_id,
        "category_id": category_id,
        "segmentation": segmentation,
        "iscrowd": 1 if isinstance(segmentation, dict) else 0,
        **more,
    }


CATEGORIES = [{"id": 1, "name": "Pit"}, {"id": 2, "name": "Infrastructure"}, {"id": 3, "name": "Outline"}]


def post_import(
    client: TestClient, project: Project, content: bytes, fmt: str = "coco", **params: Any
) -> Any:
    return client.post(
        f"/api/projects/{project.id}/import",
        params={"format": fmt, **params},
        files={"file": ("annotations.json", content, "application/json")},
    )


def problems_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_rejected" and "nothing was stored" in body["detail"], body
    problems: list[dict[str, Any]] = body["problems"]
    return problems


def regions_of(session: Session, observation: Observation) -> list[Region]:
    return list(
        session.scalars(
            select(Region)
            .where(Region.observation_id == observation.id)
            .order_by(Region.label, Region.area_px)
        )
    )


def mask_of(region: Region) -> np.ndarray:
    """The stored region rasterized by MineLabel's own rule (a pixel is in when its centre is)."""
    assert region.label is not None  # people's regions always have a class
    masks = class_masks([LabeledShape(to_shape(region.geom), region.label)], [region.label], 200, 200)
    mask: np.ndarray = masks[0]
    return mask


def parts_of(region: Region) -> list[shp.Polygon]:
    shape = to_shape(region.geom)
    assert isinstance(shape, shp.MultiPolygon)  # regions are stored as MultiPolygons
    return list(shape.geoms)


def counts(session: Session, project: Project) -> tuple[int, int, int]:
    def count(model: Any) -> int:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.project_id == project.id)) or 0
        )

    return count(Annotation), count(Prediction), count(Region)


@pytest.fixture
def project(db_session: Session, app: FastAPI, tmp_path: Path) -> Project:
    """A project with two ready 200 x 200 tasks, 0854_000.tif and 0854_001.tif, and 3548_000.tif."""
    project = make_project(db_session, "coco-import")
    for site, index in (("0854", 0), ("0854", 1), ("3548", 0)):
        make_task(db_session, app.state.storage, project, tmp_path, site=site, index=index)
    return project


def task(session: Session, project: Project, name: str) -> Observation:
    return session.scalars(
        select(Observation).where(Observation.project_id == project.id, Observation.original_filename == name)
    ).one()


def test_the_rle_decoder_reads_what_pycocotools_writes() -> None:
    assert counts_from_string(HOLED_COUNTS) == rle_counts(HOLED)
    assert counts_from_string(ELL_COUNTS) == rle_counts(ELL)
    assert counts_to_string(rle_counts(HOLED)) == HOLED_COUNTS  # and writes it back the same


def test_polygons_and_both_kinds_of_rle_become_regions_pixel_for_pixel(
    client: TestClient, db_session: Session, project: Project
) -> None:
    content = coco(
        [image(1, "0854_000.tif")],
        [
            annotation(1, 1, 1, [box(20, 20, 50, 50)]),  # a 50 px square Pit: 2,500 px
            # Two Infrastructure parts in one annotation (an occluded object): 20 x 20 and 10 x 10 px.
            annotation(2, 1, 2, [box(100, 100, 20, 20), box(150, 150, 10, 10)]),
            # Two overlapping parts: joined into one polygon of 30 x 10 + 10 x 10 = 400 px.
            annotation(3, 1, 1, [box(10, 100, 30, 10), box(30, 100, 20, 10)]),
            annotation(4, 1, 3, {"size": [200, 200], "counts": rle_counts(HOLED)}),  # uncompressed (CVAT)
            annotation(5, 1, 3, {"size": [200, 200], "counts": ELL_COUNTS}),  # compressed (pycocotools)
        ],
        CATEGORIES,
    )
    response = post_import(client, project, content)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["format"], report["items_read"], report["annotations_created"]) == ("coco", 5, 1)
    assert (report["regions_created"], report["predictions_created"]) == (5, 0)
    assert "1 image(s) with annotations matched observations: 1 by file name" in report["notes"]
    assert "2 RLE mask(s) traced into polygons along pixel edges (holes kept)" in report["notes"]

    observation = task(db_session, project, "0854_000.tif")
    infrastructure, ell, holed, joined, pit = regions_of(db_session, observation)
    assert (pit.label, pit.area_px) == ("Pit", 2500)
    assert (joined.label, joined.area_px) == ("Pit", 400)
    assert len(parts_of(joined)) == 1  # the overlapping parts are one polygon
    assert (infrastructure.label, infrastructure.area_px) == ("Infrastructure", 500)
    parts = sorted(p.area for p in parts_of(infrastructure))
    assert parts == [100, 400]  # one region, two parts
    assert (holed.label, holed.area_px, ell.area_px) == ("Outline", 2900, 1400)
    (outline,) = parts_of(holed)
    assert len(outline.interiors) == 1 and shp.Polygon(outline.interiors[0]).area == 100  # the hole is kept
    assert (mask_of(holed) == HOLED).all() and (mask_of(ell) == ELL).all()  # every pixel as in the mask
    expected_pit = np.zeros((200, 200), bool)
    expected_pit[20:70, 20:70] = True  # COCO x = column, y = row, as MineLabel's pixel space
    assert (mask_of(pit) == expected_pit).all()
    assert {r.source.value for r in (pit, holed)} == {"import"}
    db_session.expire_all()
    assert task(db_session, project, "0854_000.tif").task_state is TaskState.SUBMITTED

    stored = counts(db_session, project)
    again = post_import(client, project, content)
    assert again.status_code == 200, again.text
    assert again.json()["annotations_created"] == 0 and again.json()["skipped_as_imported_before"] == 5
    assert counts(db_session, project) == stored == (1, 0, 5)


def test_a_roboflow_export_matches_its_renamed_images(
    client: TestClient, db_session: Session, project: Project
) -> None:
    """As Roboflow's "COCO Segmentation" export writes it: a dataset category 0 as the supercategory, ids
    from 0, images renamed to <stem>_<ext>.rf.<hash>.jpg under the split's folder, bbox and area given."""
    content = orjson.dumps(
        {
            "info": {
                "year": "2026",
                "version": "3",
                "description": "Exported from roboflow.com",
                "contributor": "",
                "url": "https://public.roboflow.com/",
                "date_created": "2026-11-30T10:00:00+00:00",
            },
            "licenses": [
                {"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}
            ],
            "categories": [
                {"id": 0, "name": "mines-xyz", "supercategory": "none"},
                {"id": 1, "name": "outline", "supercategory": "mines-xyz"},
                {"id": 2, "name": "pit", "supercategory": "mines-xyz"},
            ],
            "images": [
                {
                    "id": 0,
                    "license": 1,
                    "file_name": "0854_001_tif.rf.8f3c2b1a9d0e4f5a6b7c8d9e0f1a2b3c.jpg",
                    "height": 200,
                    "width": 200,
                    "date_captured": "2026-11-30T10:00:00+00:00",
                },
                {
                    "id": 1,
                    "license": 1,
                    "file_name": "3548_000_tif.rf.0123456789abcdef0123456789abcdef.jpg",
                    "height": 200,
                    "width": 200,
                    "date_captured": "2026-11-30T10:00:00+00:00",
                },
            ],
            "annotations": [
                {
                    "id": 0,
                    "image_id": 0,
                    "category_id": 2,
                    "bbox": [20, 30, 40, 40],
                    "area": 1600,
                    "segmentation": [box(20, 30, 40, 40)],
                    "iscrowd": 0,
                },
                {
                    "id": 1,
                    "image_id": 0,
                    "category_id": 1,
                    "bbox": [0, 0, 100, 100],
                    "area": 5000,
                    "segmentation": [flat((0, 0), (100, 0), (0, 100))],
                    "iscrowd": 0,
                },
            ],
        }
    )
    response = post_import(client, project, content)
    assert response.status_code == 200, response.text
    notes = response.json()["notes"]
    assert (
        "1 image(s) with annotations matched observations: 1 after undoing Roboflow's renaming "
        "(<name>_<ext>.rf.<hash>.jpg)" in notes
    )
    assert "1 image(s) of the file have no annotations" in notes  # 3548_000 is there, just unlabeled
    outline, pit = regions_of(db_session, task(db_session, project, "0854_001.tif"))
    assert (outline.label, outline.area_px, pit.label, pit.area_px) == ("Outline", 5000, "Pit", 1600)


def test_a_cvat_export_with_folders_and_uncompressed_masks(
    client: TestClient, db_session: Session, project: Project
) -> None:
    """As CVAT's "COCO 1.0" export writes it: ids from 1, file names with the task's folders, masks as
    uncompressed RLE with iscrowd 1, attributes on each annotation."""
    content = orjson.dumps(
        {
            "licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {
                "contributor": "",
                "date_created": "",
                "description": "",
                "url": "",
                "version": "",
                "year": "",
            },
            "categories": [
                {"id": 1, "name": "Pit", "supercategory": ""},
                {"id": 2, "name": "Outline", "supercategory": ""},
            ],
            "images": [
                {
                    "id": 1,
                    "width": 200,
                    "height": 200,
                    "file_name": "mines/0854/0854_000.tif",
                    "license": 0,
                    "flickr_url": "",
                    "coco_url": "",
                    "date_captured": 0,
                },
            ],
            "annotations": [
                {
                    "id": 1,
                    "image_id": 1,
                    "category_id": 2,
                    "segmentation": {"counts": rle_counts(HOLED), "size": [200, 200]},
                    "area": 2900.0,
                    "bbox": [120.0, 10.0, 60.0, 50.0],
                    "iscrowd": 1,
                    "attributes": {"occluded": False},
                },
                {
                    "id": 2,
                    "image_id": 1,
                    "category_id": 1,
                    "segmentation": [[20.0, 20.0, 70.0, 20.0, 70.0, 70.0, 20.0, 70.0]],
                    "area": 2500.0,
                    "bbox": [20.0, 20.0, 50.0, 50.0],
                    "iscrowd": 0,
                    "attributes": {"occluded": False},
                },
            ],
        }
    )
    response = post_import(client, project, content, **{"as": "predictions", "model_version": "cvat-2026"})
    assert response.status_code == 200, response.text
    assert (response.json()["predictions_created"], response.json()["regions_created"]) == (1, 2)
    observation = task(db_session, project, "0854_000.tif")
    (prediction,) = db_session.scalars(select(Prediction).where(Prediction.observation_id == observation.id))
    assert prediction.model_version == "cvat-2026"
    outline, pit = regions_of(db_session, observation)
    assert (outline.area_px, pit.area_px) == (2900, 2500) and (mask_of(outline) == HOLED).all()
    assert observation.task_state is TaskState.NEW  # predictions leave the task where it was


def test_categories_map_to_classes_or_are_skipped_when_asked(
    client: TestClient, db_session: Session, project: Project
) -> None:
    categories = [{"id": 7, "name": "pit"}, {"id": 8, "name": "mine"}, {"id": 9, "name": "tailings"}]
    content = coco(
        [image(1, "0854_000.tif")],
        [
            annotation(1, 1, 7, [box(0, 0, 10, 10)]),
            annotation(2, 1, 8, [box(0, 0, 100, 100)]),
            annotation(3, 1, 9, [box(50, 50, 10, 10)]),
            annotation(4, 1, 9, [box(70, 70, 10, 10)]),
        ],
        categories,
    )
    problems = problems_of(post_import(client, project, content))
    assert [p.get("category") for p in problems] == [1, 2]  # 'pit' matches Pit in any case
    assert (
        "category 'mine' (id 8, 1 annotation(s)) is not one of the project's classes"
        in problems[0]["message"]
    )
    assert "label_map" in problems[0]["message"] and "unknown_classes=skip" in problems[0]["message"]
    assert counts(db_session, project) == (0, 0, 0)

    wrong = problems_of(post_import(client, project, content, label_map='{"mine": "Mines"}'))
    assert any("label_map maps 'mine' to 'Mines'" in p["message"] for p in wrong)

    response = post_import(client, project, content, label_map='{"mine": "outline"}', unknown_classes="skip")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["skipped"] == {"unknown_class": 2} and report["regions_created"] == 2
    assert (
        "category 'tailings' (id 9) is not one of the project's classes: its 2 annotation(s) were skipped "
        "(unknown_classes=skip)" in report["notes"]
    )
    assert "categories mapped by label_map: mine -> Outline" in report["notes"]
    outline, pit = regions_of(db_session, task(db_session, project, "0854_000.tif"))
    assert (outline.label, outline.area_px, pit.label, pit.area_px) == ("Outline", 10000, "Pit", 100)


def test_a_bad_file_is_refused_whole_naming_each_image_and_annotation(
    client: TestClient, db_session: Session, project: Project
) -> None:
    content = coco(
        [
            image(1, "0854_000.tif"),
            image(2, "0854_001.tif", 640, 640),
            image(3, "9999_000.png"),
            image(4, "nowhere.png"),
        ],
        [
            annotation(1, 1, 1, [box(20, 20, 50, 50)]),  # good: must not be stored either
            annotation(2, 1, 1, []),  # a bounding box only
            annotation(3, 1, 1, [[10, 10, 20, 20, 30]]),  # an odd number of coordinates
            annotation(4, 1, 3, {"size": [200, 200], "counts": [10, 20]}),  # counts do not add up
            annotation(5, 1, 3, {"size": [100, 100], "counts": [0, 10000]}),  # not the image's size
            annotation(6, 2, 1, [box(0, 0, 10, 10)]),  # its image is 640 x 640 px in the file
            annotation(7, 3, 1, [box(0, 0, 10, 10)]),  # its image matches no observation
            annotation(8, 42, 1, [box(0, 0, 10, 10)]),  # no image 42
            annotation(9, 1, 5, [box(0, 0, 10, 10)]),  # no category 5
            annotation(10, 1, 1, [box(0, 0, 10, 10)], score=3),
            annotation(10, 1, 1, [box(0, 0, 10, 10)]),  # the id again
        ],
        CATEGORIES,
    )
    problems = problems_of(post_import(client, project, content))
    found = {(p.get("image"), p.get("annotation")): p["message"] for p in problems}
    assert "no segmentation (a bounding box only?)" in found[(0, 1)]
    assert "polygon 0 has 5 numbers" in found[(0, 2)]
    assert "counts add up to 30 pixels, not 200 x 200 = 40,000" in found[(0, 3)]
    assert "the RLE's size [height, width] is [100, 100], not the image's [200, 200]" in found[(0, 4)]
    assert (
        "image '0854_001.tif' is 640 x 640 px in the file, but observation 0854_001.tif is 200 x 200 px"
        in found[(1, None)]
    )
    assert "image '9999_000.png' (1 annotation(s)) matches no observation" in found[(2, None)]
    assert "image_id 42 is not the id of an image" in found[(None, 7)]
    assert "category_id 5 is not the id of a category" in found[(0, 8)]
    assert "score 3 must be a number from 0 to 1" in found[(0, 9)]
    assert "annotation id 10 appears twice" in found[(None, 10)]
    assert not any(p.get("image") == 3 for p in problems)  # nowhere.png has no annotations: no problem
    assert (0, 0) not in found
    assert counts(db_session, project) == (0, 0, 0)


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("label-studio", coco([image(1, "0854_000.tif")], [], CATEGORIES), "this looks like COCO"),
        ("geojson", coco([image(1, "0854_000.tif")], [], CATEGORIES), "this looks like COCO"),
        (
            "coco",
            orjson.dumps([{"id": 1, "data": {"image": "/data/upload/1/ab12cd34-0854_000.tif"}}]),
            "this looks like a Label Studio export",
        ),
        ("coco", orjson.dumps({"type": "FeatureCollection", "features": []}), "this looks like GeoJSON"),
        (
            "label-studio",
            orjson.dumps({"type": "FeatureCollection", "features": []}),
            "this looks like GeoJSON",
        ),
        ("coco", b"{not json", "the file is not JSON"),
        ("coco", orjson.dumps({"images": []}), "a COCO file is a JSON object with images, annotations"),
    ],
)
def test_a_file_sent_as_another_format_is_named(
    client: TestClient, db_session: Session, project: Project, fmt: str, content: bytes, message: str
) -> None:
    params = {"observation_id": str(task(db_session, project, "0854_000.tif").id)} if fmt == "geojson" else {}
    problems = problems_of(post_import(client, project, content, fmt, **params))
    assert any(message in p["message"] for p in problems), problems
    if message.startswith("this looks like"):
        named = {"COCO": "format=coco", "a Label Studio": "format=label-studio", "GeoJSON": "format=geojson"}
        assert any(use in problems[0]["message"] for key, use in named.items() if key in message)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"observation_id": "0b0e4d2c-6f31-4e7c-9c58-6d2f1d8b7a11"},
            "observation_id",
            "observation_id does not apply to format=coco",
        ),
        ({"label_map": "{not json"}, "label_map", "label_map must be a JSON object of names"),
        ({"label_map": '{"pit": 3}'}, "label_map", "label_map must be a JSON object of names"),
        ({"label_map": '{"pit": ""}'}, "label_map", "names must not be empty"),
        ({"model_version": "v" * 201, "as": "predictions"}, "model_version", "at most 200 characters"),
    ],
)
def test_bad_options_are_refused_naming_the_field(
    client: TestClient,
    db_session: Session,
    project: Project,
    params: dict[str, str],
    field: str,
    message: str,
) -> None:
    content = coco([image(1, "0854_000.tif")], [annotation(1, 1, 1, [box(20, 20, 50, 50)])], CATEGORIES)
    response = post_import(client, project, content, **params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid_import_option", field)
    assert message in body["detail"] and "nothing was stored" in body["detail"]
    assert counts(db_session, project) == (0, 0, 0)


def test_an_unknown_option_value_is_refused_by_the_query_schema(client: TestClient, project: Project) -> None:
    content = coco([image(1, "0854_000.tif")], [], CATEGORIES)
    response = post_import(client, project, content, unknown_classes="ignore")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "unknown_classes"]


def test_a_folder_tells_apart_sites_with_the_same_file_name_and_a_new_extension_still_matches(
    client: TestClient, db_session: Session, app: FastAPI, project: Project, tmp_path: Path
) -> None:
    for site in ("north", "south"):
        observation = make_task(db_session, app.state.storage, project, tmp_path, site=site, index=0)
        observation.original_filename = "scene.tif"  # the same name in both sites
    db_session.commit()
    content = coco(
        [image(1, "exports/south/scene.tif"), image(2, "0854_001.jpg")],
        [annotation(1, 1, 1, [box(0, 0, 10, 10)]), annotation(2, 2, 1, [box(0, 0, 20, 20)])],
        CATEGORIES,
    )
    response = post_import(client, project, content)
    assert response.status_code == 200, response.text
    assert (
        "2 image(s) with annotations matched observations: 1 by file name; 1 by file name without extension"
        in (response.json()["notes"])
    )
    south = db_session.scalars(
        select(Observation)
        .join(Site, Site.id == Observation.site_id)
        .where(Site.project_id == project.id, Site.name == "south")
    ).one()
    assert [r.area_px for r in regions_of(db_session, south)] == [100]
    assert [r.area_px for r in regions_of(db_session, task(db_session, project, "0854_001.tif"))] == [400]
    unclear = coco([image(1, "scene.tif")], [annotation(1, 1, 1, [box(0, 0, 10, 10)])], CATEGORIES)
    (problem,) = problems_of(post_import(client, project, unclear))
    assert "image 'scene.tif' matches 2 observations (scene.tif, scene.tif)" in problem["message"]
    assert "put the site's name in its folder" in problem["message"]


# -- a real Sentinel-2 image of the seed data ---------------------------------------------------------------


@pytest.mark.seed
def test_a_coco_file_over_a_seed_image_imports_onto_the_real_observation(
    client: TestClient, db_session: Session, app: FastAPI, seed_data: Path, tmp_path: Path
) -> None:
    from tests.interop.test_coco_masks import seed_observation

    png = tmp_path / "0854_000.png"
    shutil.copyfile(seed_data / "minetracking2021" / "0854_000.png", png)
    project = make_project(db_session, "seed-coco")
    observation = seed_observation(db_session, app, project, png)
    assert (observation.width, observation.height) == (1000, 1000)
    outline = np.zeros((1000, 1000), bool)
    outline[100:700, 150:850] = True  # 600 x 700 px
    outline[300:400, 400:500] = False  # a 100 x 100 px hole
    outline[800:850, 800:900] = True  # and a second part of 50 x 100 px: 415,000 px in all
    content = orjson.dumps(
        {
            "images": [
                {
                    "id": 1,
                    "file_name": "train/0854_000_png.rf.5d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a.jpg",
                    "width": 1000,
                    "height": 1000,
                }
            ],
            "categories": [{"id": 1, "name": "pit"}, {"id": 2, "name": "mine"}],
            "annotations": [
                annotation(1, 1, 1, [box(300.25, 500.25, 100, 80)]),  # off pixel edges: 8,000 px²
                annotation(2, 1, 1, [flat((600, 200), (700, 200), (650, 300))]),  # a triangle of 5,000 px²
                annotation(3, 1, 2, {"size": [1000, 1000], "counts": rle_counts(outline)}),
            ],
        }
    )
    response = post_import(client, project, content, label_map="mine=Outline")
    assert response.status_code == 200, response.text
    assert (response.json()["annotations_created"], response.json()["regions_created"]) == (1, 3)
    regions = regions_of(db_session, observation)
    assert [(r.label, r.area_px) for r in regions] == [("Outline", 415000), ("Pit", 5000), ("Pit", 8000)]
    assert regions[0].area_ha is None  # the PNG has no georeferencing
    shapes = [LabeledShape(to_shape(r.geom), r.label or "") for r in regions]
    masks = class_masks(shapes, CLASSES, 1000, 1000)
    assert (masks[2] == outline).all()
    pits = [
        shp.Polygon([(300.25, 500.25), (400.25, 500.25), (400.25, 580.25), (300.25, 580.25)]),
        shp.Polygon([(600, 200), (700, 200), (650, 300)]),
    ]
    expected = class_masks([LabeledShape(p, "Pit") for p in pits], ["Pit"], 1000, 1000)[0]
    assert (masks[0] == expected).all()  # where the COCO coordinates say, x = column, y = row
    assert int(masks[0][500:580, 300:400].sum()) == 8000 and not masks[0][:, :300].any()
    assert post_import(client, project, content, label_map="mine=Outline").json()["annotations_created"] == 0
