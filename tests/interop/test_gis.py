"""GeoJSON and GeoPackage export and import through the API, on real PostGIS: EPSG:4326 coordinates that match
the regions' pixels, the properties and filters, skipped tasks, layers read back with GDAL, imports onto a
georeferenced observation (as predictions and as annotations), re-imports, every kind of bad file, and the
Ashanti mining polygons of the seed data."""

from __future__ import annotations

import math
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyogrio
import pytest
import shapely
from fastapi import FastAPI
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from pyogrio import raw
from pyproj import Geod, Transformer
from shapely import geometry as shp
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.config import LimitSettings, TileSettings
from app.interop.exports import ExportOptions
from app.interop.geojson_export import PROPERTY_NAMES
from app.interop.selection import Selection
from app.models import (
    Annotation,
    GeorefSource,
    Observation,
    ObservationStatus,
    Prediction,
    Project,
    Region,
    Site,
    TaskState,
    User,
)
from app.models.annotation import RegionSource
from app.services import annotations as annotation_service
from app.services import exports as export_service
from app.services.predictions import create_prediction
from tests.world import make_project, make_task, make_user, region_input, square

LIMITS = LimitSettings()
CRS = "EPSG:32719"
TRANSFORM = [10.0, 0.0, 367588.2, 0.0, -10.0, 6960504.4]  # 10 m pixels in UTM 19S
TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
FROM_WGS84 = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


def to_map(x: float, y: float) -> tuple[float, float]:
    """Pixel (column, row) to UTM 19S metres."""
    a, b, c, d, e, f = TRANSFORM
    return a * x + b * y + c, d * x + e * y + f


def pixel_to_lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = TO_WGS84.transform(*to_map(x, y))
    return float(lon), float(lat)


def lonlat_square(x: float, y: float, size: float) -> dict[str, Any]:
    """square(x, y, size) of the pixel space, as an EPSG:4326 GeoJSON polygon."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]
    return {"type": "Polygon", "coordinates": [[list(pixel_to_lonlat(*c)) for c in corners]]}


def georeferenced(session: Session, project: Project, *, site: str = "0854", index: int = 0) -> Observation:
    """A ready 1000 x 1000 px observation, georeferenced with 10 m pixels in UTM 19S (no image file)."""
    site_row = session.scalars(select(Site).where(Site.project_id == project.id, Site.name == site)).first()
    if site_row is None:
        site_row = Site(project_id=project.id, name=site)
        session.add(site_row)
        session.flush()
    row = Observation(
        project_id=project.id,
        site_id=site_row.id,
        index=index,
        original_filename=f"{site}_{index:03}.png",
        content_hash=uuid.uuid4().hex,
        size_bytes=1,
        driver="PNG",
        width=1000,
        height=1000,
        band_count=3,
        band_names=["red", "green", "blue"],
        dtype="uint8",
        has_alpha=False,
        georef_source=GeorefSource.SIDECAR,
        crs=CRS,
        transform=TRANSFORM,
        acquired_on=date(2021, 3, 14),
        status=ObservationStatus.READY,
        original_key="k",
    )
    session.add(row)
    session.commit()
    return row


def set_state(session: Session, task: Observation, state: TaskState) -> None:
    session.execute(update(Observation).where(Observation.id == task.id).values(task_state=state))
    session.commit()


class Mapped:
    """A project with an approved georeferenced task (an annotation with a Pit and an Outline, and a
    prediction), an in-progress georeferenced task (a Pit) and an approved task in pixel space only."""

    def __init__(self, session: Session, app: FastAPI, tmp: Path) -> None:
        self.project = make_project(session, "gis")
        self.annotator = make_user(session, "ann")
        self.other_annotator = make_user(session, "ann2")
        self.first = georeferenced(session, self.project, index=0)
        self.second = georeferenced(session, self.project, index=1)
        self.plain = make_task(session, app.state.storage, self.project, tmp, site="3548", index=0)
        regions = [region_input("Pit", square(100, 100, 50)), region_input("Outline", square(50, 50, 400))]
        saved = annotation_service.create_annotation(
            session, self.first, regions, LIMITS, user_id=self.annotator.id
        )
        self.pit = saved.regions[0]
        self.carried_from = uuid.uuid4()  # a region on an earlier date (no foreign key)
        carried = annotation_service.RegionInput("Pit", square(300, 300, 40), carried_from=self.carried_from)
        create_prediction(session, self.first, "sam-vit-b", 0.8, [carried], LIMITS)
        annotation_service.create_annotation(
            session,
            self.second,
            [region_input("Pit", square(10, 10, 20))],
            LIMITS,
            user_id=self.other_annotator.id,
        )
        annotation_service.create_annotation(
            session, self.plain, [region_input("Pit", square(0, 0, 10))], LIMITS, user_id=self.annotator.id
        )
        set_state(session, self.first, TaskState.APPROVED)
        set_state(session, self.second, TaskState.IN_PROGRESS)
        set_state(session, self.plain, TaskState.APPROVED)


@pytest.fixture
def mapped(db_session: Session, app: FastAPI, tmp_path: Path) -> Mapped:
    return Mapped(db_session, app, tmp_path)


def export_geojson(client: TestClient, project: Project, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/projects/{project.id}/export", params={"format": "geojson", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-disposition"].endswith('.geojson"')
    collection: dict[str, Any] = orjson.loads(response.content)
    assert collection["type"] == "FeatureCollection"
    return collection


def by_class(collection: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["properties"]["kind"], f["properties"]["class"]): f for f in collection["features"]}


def corners(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    return [(x, y) for polygon in geometry["coordinates"] for ring in polygon for x, y in ring]


def test_the_geojson_export_has_the_regions_in_wgs84_with_their_properties(
    client: TestClient, mapped: Mapped
) -> None:
    collection = export_geojson(client, mapped.project)
    assert "crs" not in collection  # RFC 7946: EPSG:4326 longitude, latitude
    features = by_class(collection)
    assert sorted(features) == [("annotation", "Outline"), ("annotation", "Pit"), ("prediction", "Pit")]
    pit = features[("annotation", "Pit")]
    assert pit["id"] == str(mapped.pit.id)
    assert pit["properties"] == {
        "class": "Pit",
        "kind": "annotation",
        "source": "human",
        "task_state": "approved",
        "site": "0854",
        "observation": "0854_000.png",
        "observation_id": str(mapped.first.id),
        "acquired_on": "2021-03-14",
        "annotator": mapped.annotator.email,
        "model_version": None,
        "score": None,
        "carried_from": None,
        "area_ha": pytest.approx(25, rel=0.01),
        "region_id": str(mapped.pit.id),
    }
    assert list(pit["properties"]) == list(PROPERTY_NAMES)
    geometry = pit["geometry"]
    assert geometry["type"] == "MultiPolygon"
    expected = [pixel_to_lonlat(x, y) for x, y in square_corners(100, 100, 50)]
    assert near(corners(geometry), expected, tolerance=1e-7)  # written with 7 decimals
    assert shp.LinearRing(geometry["coordinates"][0][0]).is_ccw  # RFC 7946's right-hand rule
    assert mapped.pit.geom_wgs84 is not None
    stored = to_shape(mapped.pit.geom_wgs84)
    assert stored.normalize().equals_exact(shp.shape(geometry).normalize(), 1e-7)
    prediction = features[("prediction", "Pit")]["properties"]
    assert (prediction["annotator"], prediction["model_version"], prediction["score"]) == (
        None,
        "sam-vit-b",
        0.8,
    )
    assert prediction["source"] == "model"
    assert prediction["carried_from"] == str(mapped.carried_from)
    assert prediction["area_ha"] == pytest.approx(16, rel=0.01)  # 40 x 40 px of 100 m²


def test_geojson_filters(client: TestClient, mapped: Mapped) -> None:
    pits = export_geojson(client, mapped.project, label="Pit")
    assert {f["properties"]["class"] for f in pits["features"]} == {"Pit"} and len(pits["features"]) == 2
    people = export_geojson(client, mapped.project, predictions="false")
    assert {f["properties"]["kind"] for f in people["features"]} == {"annotation"}
    in_progress = export_geojson(client, mapped.project, state="in_progress")
    (feature,) = in_progress["features"]
    assert feature["properties"]["observation"] == "0854_001.png"
    assert feature["properties"]["task_state"] == "in_progress"
    assert feature["properties"]["annotator"] == mapped.other_annotator.email
    everything = export_geojson(client, mapped.project, all_states="true")
    assert len(everything["features"]) == 4
    theirs = export_geojson(
        client,
        mapped.project,
        all_states="true",
        annotator=str(mapped.other_annotator.id),
        predictions="false",
    )
    assert [f["properties"]["observation"] for f in theirs["features"]] == ["0854_001.png"]
    nothing = export_geojson(client, mapped.project, state="rejected")
    assert nothing["features"] == []


def test_tasks_in_pixel_space_only_are_skipped_with_a_note(
    db_session: Session, app: FastAPI, mapped: Mapped, tmp_path: Path
) -> None:
    for name in ("geojson", "gpkg"):
        ctx, fmt = export_service.prepare(
            db_session,
            mapped.project.id,
            name,
            Selection(),
            ExportOptions(),
            app.state.storage,
            TileSettings(),
        )
        progress: list[int] = []
        ctx.on_progress = progress.append
        report = export_service.write_file(ctx, fmt, tmp_path / f"out.{name}")
        assert (report.tasks, report.annotations, report.predictions) == (1, 1, 1)
        assert (report.regions, report.polygons) == (3, 3)
        assert report.notes == [
            "1 task(s) skipped: they are not georeferenced (no CRS and transform), so their regions have no "
            "EPSG:4326 coordinates."
        ]
        assert progress == [2]  # both approved tasks were gone through


def test_the_geopackage_reads_back_with_gdal(client: TestClient, mapped: Mapped, tmp_path: Path) -> None:
    response = client.get(f"/api/projects/{mapped.project.id}/export", params={"format": "gpkg"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "regions.gpkg"
    path.write_bytes(response.content)
    assert [str(name) for name, _ in pyogrio.list_layers(path)] == ["regions"]
    info = pyogrio.read_info(path)
    assert (info["layer_name"], info["crs"], info["geometry_type"], info["features"]) == (
        "regions",
        "EPSG:4326",
        "MultiPolygon",
        3,
    )
    assert list(info["fields"]) == list(PROPERTY_NAMES)
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert (types["acquired_on"], types["area_ha"], types["score"], types["class"]) == (
        "OFTDate",
        "OFTReal",
        "OFTReal",
        "OFTString",
    )
    _, _, geometries, columns = raw.read(path)
    rows = [dict(zip(info["fields"], values, strict=True)) for values in zip(*columns, strict=True)]
    pit = next(r for r in rows if r["class"] == "Pit" and r["kind"] == "annotation")
    assert pit["annotator"] == mapped.annotator.email and pit["region_id"] == str(mapped.pit.id)
    assert pit["acquired_on"] == np.datetime64("2021-03-14") and pit["area_ha"] == pytest.approx(25, rel=0.01)
    assert pit["model_version"] is None and math.isnan(pit["score"])
    prediction = next(r for r in rows if r["kind"] == "prediction")
    assert (prediction["model_version"], prediction["score"]) == ("sam-vit-b", 0.8)
    assert (prediction["carried_from"], pit["carried_from"]) == (str(mapped.carried_from), None)
    shape = shapely.from_wkb(geometries[rows.index(pit)])
    expected = [pixel_to_lonlat(x, y) for x, y in square_corners(100, 100, 50)]
    vertices = [(x, y) for polygon in shape.geoms for x, y in polygon.exterior.coords]
    assert near(vertices, expected, tolerance=1e-9)


def test_an_empty_selection_gives_an_empty_geopackage(
    client: TestClient, mapped: Mapped, tmp_path: Path
) -> None:
    response = client.get(
        f"/api/projects/{mapped.project.id}/export", params={"format": "gpkg", "state": "rejected"}
    )
    assert response.status_code == 200, response.text
    path = tmp_path / "empty.gpkg"
    path.write_bytes(response.content)
    info = pyogrio.read_info(path)
    assert (info["layer_name"], info["features"]) == ("regions", 0)


# -- imports -------------------------------------------------------------------------------------------


def feature_collection(*features: tuple[dict[str, Any] | None, dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
        }
    )


def post_import(
    client: TestClient, project: Project, content: bytes, fmt: str = "geojson", **params: Any
) -> Any:
    return client.post(
        f"/api/projects/{project.id}/import",
        params={"format": fmt, **params},
        files={"file": (f"polygons.{fmt}", content, "application/octet-stream")},
    )


@pytest.fixture
def target(db_session: Session) -> tuple[Project, Observation]:
    project = make_project(db_session, "gis-import")
    return project, georeferenced(db_session, project)


def pixel_vertices(region: Region) -> list[tuple[float, float]]:
    shape = to_shape(region.geom)
    assert isinstance(shape, shp.MultiPolygon)
    return [(x, y) for polygon in shape.geoms for x, y in polygon.exterior.coords]


def near(
    vertices: list[tuple[float, float]], expected: list[tuple[float, float]], tolerance: float = 0.01
) -> bool:
    return all(any(math.dist(v, e) <= tolerance for v in vertices) for e in expected) and all(
        any(math.dist(v, e) <= tolerance for e in expected) for v in vertices
    )


def square_corners(x: float, y: float, size: float) -> list[tuple[float, float]]:
    return [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]


def regions_of(session: Session, observation: Observation) -> list[Region]:
    return list(
        session.scalars(select(Region).where(Region.observation_id == observation.id).order_by(Region.label))
    )


def test_geojson_imports_as_predictions_in_pixel_space(
    client: TestClient, db_session: Session, target: tuple[Project, Observation]
) -> None:
    project, observation = target
    content = feature_collection(
        (lonlat_square(200, 300, 100), {"class": "Pit", "year": 2017}),
        (lonlat_square(100, 100, 600), {"class": "Outline"}),
        (lonlat_square(950, 500, 100), {}),  # no class: the default; reaches past the right edge
    )
    params = {"observation_id": str(observation.id), "as": "predictions", "default_label": "Infrastructure",
              "model_version": "ghana-2017"}  # fmt: skip
    response = post_import(client, project, content, **params)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (
        report["format"],
        report["items_read"],
        report["predictions_created"],
        report["regions_created"],
    ) == (
        "geojson",
        3,
        1,
        3,
    )
    assert report["annotations_created"] == 0 and report["skipped_as_imported_before"] == 0
    assert any("1 feature(s) reached past the image's edge" in note for note in report["notes"])
    (prediction,) = db_session.scalars(select(Prediction).where(Prediction.observation_id == observation.id))
    assert prediction.model_version == "ghana-2017" and prediction.score is None
    infrastructure, outline, pit = regions_of(db_session, observation)
    assert (pit.label, pit.source, pit.prediction_id) == ("Pit", RegionSource.IMPORT, prediction.id)
    assert near(pixel_vertices(pit), square_corners(200, 300, 100))
    assert near(pixel_vertices(outline), square_corners(100, 100, 600))
    assert near(pixel_vertices(infrastructure), [(950, 500), (1000, 500), (1000, 600), (950, 600)])  # clipped
    assert pit.area_ha == pytest.approx(100, rel=0.01)  # 100 x 100 px of 100 m²

    again = post_import(client, project, content, **params)
    assert again.status_code == 200, again.text
    assert again.json()["skipped_as_imported_before"] == 3 and again.json()["predictions_created"] == 0
    assert len(regions_of(db_session, observation)) == 3


def test_a_geopackage_in_utm_imports_as_an_annotation(
    client: TestClient,
    db_session: Session,
    site_admin: User,
    target: tuple[Project, Observation],
    tmp_path: Path,
) -> None:
    project, observation = target
    path = tmp_path / "mine.gpkg"
    shapes = [
        shp.Polygon([to_map(x, y) for x, y in square_corners(*spec)])
        for spec in [(10, 20, 30), (500, 600, 70)]
    ]
    raw.write(
        str(path),
        np.array([shapely.to_wkb(s) for s in shapes], dtype=object),
        [np.array(["Pit", "Infrastructure"], dtype=object)],
        ["kind_of"],
        layer="mine",
        driver="GPKG",
        geometry_type="Polygon",
        crs=CRS,
    )
    content = path.read_bytes()
    response = post_import(
        client, project, content, "gpkg", observation_id=str(observation.id), label_property="kind_of"
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["annotations_created"], report["regions_created"], report["items_read"]) == (1, 2, 2)
    (annotation,) = db_session.scalars(select(Annotation).where(Annotation.observation_id == observation.id))
    assert annotation.created_by == site_admin.id and annotation.import_key is not None
    infrastructure, pit = regions_of(db_session, observation)
    assert near(pixel_vertices(pit), square_corners(10, 20, 30))
    assert near(pixel_vertices(infrastructure), square_corners(500, 600, 70))
    assert infrastructure.source is RegionSource.IMPORT and infrastructure.annotation_id == annotation.id

    again = post_import(
        client, project, content, "gpkg", observation_id=str(observation.id), label_property="kind_of"
    )
    assert again.json()["skipped_as_imported_before"] == 2 and again.json()["annotations_created"] == 0
    as_predictions = post_import(
        client,
        project,
        content,
        "gpkg",
        observation_id=str(observation.id),
        label_property="kind_of",
        **{"as": "predictions"},
    )
    assert as_predictions.json()["predictions_created"] == 1  # another import: a prediction this time


def test_an_export_imports_back(client: TestClient, db_session: Session, mapped: Mapped) -> None:
    content = client.get(f"/api/projects/{mapped.project.id}/export", params={"format": "geojson"}).content
    project = make_project(db_session, "copy")
    observation = georeferenced(db_session, project)
    response = post_import(client, project, content, observation_id=str(observation.id))
    assert response.status_code == 200, response.text
    assert response.json()["regions_created"] == 3
    (pit,) = [r for r in regions_of(db_session, observation) if r.label == "Pit" and r.area_px > 2000]
    assert near(pixel_vertices(pit), square_corners(100, 100, 50))  # 7 decimals of a degree: about 1 cm


def problems_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_rejected" and "nothing was stored" in body["detail"]
    problems: list[dict[str, Any]] = body["problems"]
    return problems


def test_a_bad_file_is_rejected_whole_naming_every_bad_feature(
    client: TestClient, db_session: Session, target: tuple[Project, Observation]
) -> None:
    project, observation = target
    bowtie = [pixel_to_lonlat(*p) for p in [(10, 10), (60, 60), (60, 10), (10, 60), (10, 10)]]
    line = [pixel_to_lonlat(10, 10), pixel_to_lonlat(90, 90)]
    content = feature_collection(
        (lonlat_square(10, 10, 50), {"class": "Pit"}),  # good
        (lonlat_square(10, 10, 50), {"class": "Road"}),  # unknown class
        (
            {"type": "Polygon", "coordinates": [[list(p) for p in bowtie]]},
            {"class": "Pit"},
        ),  # self-intersects
        (lonlat_square(2000, 2000, 50), {"class": "Pit"}),  # wholly outside the 1000 x 1000 image
        ({"type": "LineString", "coordinates": [list(p) for p in line]}, {"class": "Pit"}),  # not a polygon
        (None, {"class": "Pit"}),  # no geometry
        (lonlat_square(10, 10, 50), {}),  # no class and no default
    )
    problems = problems_of(
        post_import(client, project, content, observation_id=str(observation.id), outside="clip")
    )
    assert [p["feature"] for p in problems] == [1, 2, 3, 4, 5, 6]
    messages = [p["message"] for p in problems]
    assert "'Road'" in messages[0] and "Pit" in messages[0]
    assert "not a valid polygon" in messages[1] and "Self-intersection" in messages[1]
    assert "wholly outside the image of observation 0854_000.png" in messages[2]
    assert "LineString" in messages[3] and "only Polygon and MultiPolygon" in messages[3]
    assert "no geometry" in messages[4]
    assert "default_label" in messages[5]
    stored = db_session.scalar(
        select(func.count()).select_from(Region).where(Region.observation_id == observation.id)
    )
    assert stored == 0
    assert (
        db_session.scalar(
            select(func.count()).select_from(Annotation).where(Annotation.project_id == project.id)
        )
        == 0
    )


def test_what_to_pass_when_the_observation_is_missing_or_in_pixel_space(
    client: TestClient, db_session: Session, app: FastAPI, target: tuple[Project, Observation], tmp_path: Path
) -> None:
    project, observation = target
    content = feature_collection((lonlat_square(10, 10, 50), {"class": "Pit"}))
    (missing,) = problems_of(post_import(client, project, content))
    assert "observation_id" in missing["message"]
    plain = make_task(db_session, app.state.storage, project, tmp_path, site="3548")
    (pixels,) = problems_of(post_import(client, project, content, observation_id=str(plain.id)))
    assert "not georeferenced" in pixels["message"]
    elsewhere = georeferenced(db_session, make_project(db_session, "elsewhere"))
    (foreign,) = problems_of(post_import(client, project, content, observation_id=str(elsewhere.id)))
    assert "not an observation of this project" in foreign["message"]
    (unknown,) = problems_of(
        post_import(client, project, content, observation_id=str(observation.id), default_label="Road")
    )
    assert "default_label 'Road'" in unknown["message"]


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("geojson", b"this is not GeoJSON"),
        ("geojson", b'{"type": "Feature"'),
        ("gpkg", b"not a GeoPackage"),
        ("gpkg", feature_collection((lonlat_square(10, 10, 50), {"class": "Pit"}))),
    ],
)
def test_a_file_of_another_kind_is_refused(
    client: TestClient, target: tuple[Project, Observation], fmt: str, content: bytes
) -> None:
    project, observation = target
    (problem,) = problems_of(post_import(client, project, content, fmt, observation_id=str(observation.id)))
    assert "GDAL can read" in problem["message"]


# -- the Ashanti mining polygons of the seed data ------------------------------------------------------


@pytest.mark.seed
def test_the_ashanti_mining_polygons_import_and_export_with_their_areas(
    client: TestClient, db_session: Session, seed_data: Path
) -> None:
    source = seed_data / "georef" / "ghana_ashanti_mining_polygons.geojson"
    _, _, geometries, _ = raw.read(source)
    polygons = shapely.from_wkb(geometries)
    assert len(polygons) == 407
    geod = Geod(ellps="WGS84")
    source_ha = sum(abs(geod.geometry_area_perimeter(p)[0]) for p in polygons) / 10_000

    # An observation in UTM 30N with 10 m pixels whose footprint covers the polygons (no image file needed).
    west, south, east, north = (float(v) for v in shapely.total_bounds(polygons))
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    x0, y0, x1, y1 = to_utm.transform_bounds(west, south, east, north, densify_pts=21)
    left, top = math.floor(x0 / 10) * 10 - 100, math.ceil(y1 / 10) * 10 + 100
    width, height = math.ceil((x1 - left) / 10) + 10, math.ceil((top - y0) / 10) + 10
    project = make_project(db_session, "ashanti")
    site = Site(project_id=project.id, name="ashanti")
    db_session.add(site)
    db_session.flush()
    observation = Observation(
        project_id=project.id,
        site_id=site.id,
        index=0,
        original_filename="ashanti_2017.tif",
        content_hash=uuid.uuid4().hex,
        size_bytes=1,
        driver="GTiff",
        width=width,
        height=height,
        band_count=3,
        band_names=["red", "green", "blue"],
        dtype="uint8",
        has_alpha=False,
        georef_source=GeorefSource.FILE,
        crs="EPSG:32630",
        transform=[10.0, 0.0, float(left), 0.0, -10.0, float(top)],
        acquired_on=date(2017, 1, 1),
        status=ObservationStatus.READY,
        original_key="k",
    )
    db_session.add(observation)
    db_session.commit()

    response = post_import(
        client,
        project,
        source.read_bytes(),
        observation_id=str(observation.id),
        default_label="Pit",
        **{"as": "predictions"},
        model_version="ashanti-2017",
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["items_read"], report["predictions_created"], report["regions_created"]) == (407, 1, 407)
    set_state(db_session, observation, TaskState.APPROVED)

    exported = export_geojson(client, project)
    features = exported["features"]
    assert len(features) == 407
    assert {f["properties"]["class"] for f in features} == {"Pit"}
    assert {f["properties"]["model_version"] for f in features} == {"ashanti-2017"}
    exported_ha = sum(f["properties"]["area_ha"] for f in features)
    assert exported_ha == pytest.approx(source_ha, rel=0.01)
    geometry_ha = (
        sum(abs(geod.geometry_area_perimeter(shp.shape(f["geometry"]))[0]) for f in features) / 10_000
    )
    assert geometry_ha == pytest.approx(source_ha, rel=0.01)
