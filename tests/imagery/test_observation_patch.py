"""Correcting an observation after upload (PATCH /api/observations/{id}): footprint, regions' EPSG:4326 copies
and hectares derived again exactly as a fresh upload gives them, audited, the COG written again by a job and
the Web Mercator tiles moving with it; bad input and other roles refused with nothing changed."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import morecantile
import pytest
import rasterio
import shapely
from affine import Affine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from geoalchemy2.shape import to_shape
from pyproj import CRS
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Job, Observation, Project, ProjectRole, Region
from app.services.georeference import rewrite_cog
from tests.imagery.conftest import IngestHere
from tests.imagery.factories import write_plain
from tests.imagery.test_georeferencing import corners
from tests.jobs import wait_for_job
from tests.world import add_member, make_user, square, with_hole

WIDTH, HEIGHT = 300, 200
BOX = (-70.35, -27.56, -70.23, -27.47)  # where the image really lies (EPSG:4326)
# Where its sidecar put it first: a centre a few kilometres off, in UTM 19S.
WRONG = "filename,center_lat,center_lon,extent_m\n{name},-27.49,-70.31,9000\n"
BOX_SIDECAR = 'filename,bbox\n{name},"{box}"\n'


def new_project(client: TestClient, name: str) -> dict[str, Any]:
    body: dict[str, Any] = client.post(
        "/api/projects", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"}
    ).json()
    return body


def sidecar(tmp_path: Path, template: str, name: str) -> Path:
    path = tmp_path / f"sidecar-{uuid.uuid4().hex[:6]}.csv"
    path.write_text(template.format(name=name, box=",".join(map(str, BOX))))
    return path


def add_regions(client: TestClient, observation_id: str) -> None:
    """An annotation (a square and a polygon with a hole) and a prediction, saved through the API."""
    regions = [
        {"label": "Pit", "geometry": square(20, 20, 50)},
        {"label": "Outline", "geometry": with_hole()},
    ]
    annotation = client.post(f"/api/observations/{observation_id}/annotations", json={"regions": regions})
    assert annotation.status_code == 201, annotation.text
    predicted = [{"label": "Pit", "geometry": square(200, 100, 40)}]
    prediction = client.post(
        f"/api/observations/{observation_id}/predictions",
        json={"model_version": "m1", "score": 0.8, "regions": predicted},
    )
    assert prediction.status_code == 201, prediction.text


def regions_of(db_session: Session, observation_id: str) -> list[Region]:
    """The observation's regions, in an order that pairs them across observations."""
    db_session.expire_all()
    rows = db_session.scalars(select(Region).where(Region.observation_id == uuid.UUID(observation_id))).all()
    return sorted(rows, key=lambda r: (r.label, r.prediction_id is None, r.area_px))


def wgs84(region: Region) -> Any:
    assert region.geom_wgs84 is not None
    return to_shape(region.geom_wgs84)


def mercator_url(observation: dict[str, Any], z: int = 13) -> str:
    lon, lat = (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return str(observation["tiles"]["mercator"]).replace("{z}/{x}/{y}.jpg", f"{tile.z}/{tile.x}/{tile.y}.png")


@pytest.fixture
def placed_wrong(client: TestClient, ingest_here: IngestHere, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """A ready PNG with regions, that its sidecar put a few kilometres off; and the image's path."""
    image = tmp_path / "0854_000.png"
    write_plain(image, "PNG", width=WIDTH, height=HEIGHT)
    (observation,) = ingest_here(
        new_project(client, "patch"), image, sidecar=sidecar(tmp_path, WRONG, image.name)
    )
    assert observation["crs"] == "EPSG:32719" and observation["georef_source"] == "sidecar"
    add_regions(client, observation["id"])
    return observation, image


def test_a_bbox_correction_derives_everything_again_as_a_fresh_upload_would(
    client: TestClient,
    app: FastAPI,
    ingest_here: IngestHere,
    db_session: Session,
    tmp_path: Path,
    placed_wrong: tuple[dict[str, Any], Path],
) -> None:
    observation, image = placed_wrong
    before = regions_of(db_session, observation["id"])
    old_wgs84 = [wgs84(r) for r in before]
    tile_before = client.get(mercator_url(observation))
    assert tile_before.status_code in (200, 404)

    response = client.patch(
        f"/api/observations/{observation['id']}", json={"georeference": {"bbox": list(BOX)}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    corrected, job = body["observation"], body["job"]
    assert body["regions_updated"] == 3
    assert corrected["georef_source"] == "manual" and corrected["crs"] == "EPSG:4326"
    west, south, east, north = BOX
    expected = [(west, north), (east, north), (east, south), (west, south)]
    for got, want in zip(corners(corrected["footprint"]), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9)
    assert job["kind"] == "georeference" and job["state"] == "queued"
    assert corrected["georeference_job_id"] == job["id"]

    # Pixels stay; the EPSG:4326 copies and hectares moved.
    after = regions_of(db_session, observation["id"])
    assert [r.id for r in after] == [r.id for r in before]
    assert [to_shape(r.geom).wkb for r in after] == [to_shape(r.geom).wkb for r in before]
    assert [r.version for r in after] == [r.version for r in before]
    for region, old in zip(after, old_wgs84, strict=True):
        assert not shapely.equals_exact(wgs84(region), old, 1e-6)

    # A fresh upload of the same image with that georeferencing, and the same regions saved on it.
    (fresh,) = ingest_here(
        new_project(client, "fresh"), image, sidecar=sidecar(tmp_path, BOX_SIDECAR, image.name)
    )
    add_regions(client, fresh["id"])
    assert shapely.equals_exact(
        shapely.geometry.shape(corrected["footprint"]), shapely.geometry.shape(fresh["footprint"]), 1e-12
    )
    assert corrected["transform"] == fresh["transform"]
    fresh_regions = regions_of(db_session, fresh["id"])
    assert len(fresh_regions) == len(after) == 3
    for ours, theirs in zip(after, fresh_regions, strict=True):
        assert ours.label == theirs.label and ours.area_px == theirs.area_px
        assert shapely.equals_exact(wgs84(ours), wgs84(theirs), 1e-9)
        assert ours.area_ha == pytest.approx(theirs.area_ha, rel=1e-9)

    # Audited, with what it was and what it is.
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "georeference")).all()
    assert event.observation_id == uuid.UUID(observation["id"])
    assert (
        event.detail["before"]["crs"] == "EPSG:32719" and event.detail["before"]["georef_source"] == "sidecar"
    )
    expected_after = {"georef_source": "manual", "crs": "EPSG:4326", "transform": corrected["transform"]}
    assert event.detail["after"] == expected_after
    assert event.detail["regions_updated"] == 3 and event.detail["job_id"] == job["id"]
    audit = client.get(f"/api/projects/{observation['project_id']}/audit").json()
    assert any(e["action"] == "georeference" for e in audit)

    # Until the job has written the image again, Web Mercator tiles wait (and the pixel grid does not).
    waiting = client.get(mercator_url(corrected))
    assert waiting.status_code == 409 and job["id"] in waiting.json()["detail"]
    pixel = corrected["tiles"]["pixel"].replace("{z}/{x}/{y}", "0/0/0")
    assert client.get(pixel).status_code == 200

    # The job (its logic, here): a new COG with the new georeferencing, a new render version.
    files = app.state.storage
    job_id, observation_id = uuid.UUID(job["id"]), uuid.UUID(observation["id"])
    result = rewrite_cog(db_session, files, job_id, observation_id, lambda *_: None, tmp_path / "scratch")
    assert result.written and result.cog_key is not None and result.cog_key.endswith(".tif")
    done = client.get(f"/api/observations/{observation['id']}").json()
    assert done["georeference_job_id"] is None
    assert done["tiles"]["mercator"] != corrected["tiles"]["mercator"]  # ?v= moved on
    tile_after = client.get(mercator_url(done))
    assert tile_after.status_code == 200 and tile_after.content != tile_before.content
    row = db_session.get(Observation, uuid.UUID(observation["id"]))
    assert row is not None and row.cog_key == result.cog_key
    with rasterio.open(files.raster_path(result.cog_key)) as cog:
        assert cog.crs.to_epsg() == 4326 and cog.transform.almost_equals(Affine(*corrected["transform"]))
    assert not files.exists(f"{result.cog_key.rsplit('/', 1)[0]}/cog.tif")  # the old COG is gone
    # A second delivery of the same job does nothing.
    again = rewrite_cog(db_session, files, job_id, observation_id, lambda *_: None, tmp_path / "scratch")
    assert not again.written


def test_world_file_transform_centre_and_date_corrections(
    client: TestClient, db_session: Session, placed_wrong: tuple[dict[str, Any], Path]
) -> None:
    observation, _ = placed_wrong
    url = f"/api/observations/{observation['id']}"
    transform = Affine(10.0, 0.0, 367_000.0, 0.0, -10.0, 6_960_000.0)
    esri = CRS.from_epsg(32719).to_wkt(version="WKT1_ESRI")
    lines = [10.0, 0.0, 0.0, -10.0, 367_005.0, 6_959_995.0]  # the top-left pixel's centre
    by_world_file = client.patch(url, json={"georeference": {"world_file": lines, "crs": esri}})
    assert by_world_file.status_code == 200, by_world_file.text
    assert by_world_file.json()["observation"]["crs"] == "EPSG:32719"
    assert by_world_file.json()["observation"]["transform"] == list(transform)[:6]

    rotated = Affine(8.0, 6.0, 367_000.0, 6.0, -8.0, 6_960_000.0)
    by_transform = client.patch(
        url, json={"georeference": {"transform": list(rotated)[:6], "crs": "EPSG:32719"}}
    )
    assert by_transform.status_code == 200, by_transform.text
    assert by_transform.json()["observation"]["transform"] == list(rotated)[:6]

    by_centre = client.patch(
        url, json={"georeference": {"center_lat": -27.5, "center_lon": -70.3, "extent_m": 3000}}
    )
    assert by_centre.status_code == 200, by_centre.text
    assert by_centre.json()["observation"]["transform"][0] == pytest.approx(10.0)

    redated = client.patch(url, json={"acquired_on": "2021-06-15"})
    assert redated.status_code == 200 and redated.json()["job"] is None
    assert redated.json()["observation"]["acquired_on"] == "2021-06-15"
    assert redated.json()["observation"]["acquired_source"] == "manual"
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "redate")).all()
    assert event.detail["before"] == {"acquired_on": None, "acquired_source": "none"}
    assert event.detail["after"] == {"acquired_on": "2021-06-15", "acquired_source": "manual"}
    cleared = client.patch(url, json={"acquired_on": None})
    assert cleared.json()["observation"]["acquired_on"] is None
    assert cleared.json()["observation"]["acquired_source"] == "none"
    actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["georeference", "georeference", "georeference", "redate", "redate"]


BAD_PATCHES: dict[str, tuple[dict[str, Any], str, str]] = {
    "west-east": ({"georeference": {"bbox": [10, 1, 5, 2]}}, "west (10) must be less than east (5)", "bbox"),
    "latitude": ({"georeference": {"bbox": [1, 80, 2, 95]}}, "north = 95 is not a latitude", "bbox"),
    "unknown-crs": (
        {"georeference": {"bbox": [1, 1, 2, 2], "crs": "EPSG:999999"}},
        "not a CRS that PROJ knows",
        "crs",
    ),
    "two-ways": (
        {"georeference": {"bbox": list(BOX), "center_lat": 1, "center_lon": 1}},
        "give exactly one of",
        "center_lat",
    ),
    "nothing": ({"georeference": {}}, "give exactly one of", "bbox"),
    "transform-without-crs": (
        {"georeference": {"transform": [10, 0, 0, 0, -10, 0]}},
        "a transform needs its crs",
        "crs",
    ),
    "collapsed-world-file": (
        {"georeference": {"world_file": [10, 0, 10, 0, 1, 1], "crs": "EPSG:32719"}},
        "collapse the image to a line",
        "world_file",
    ),
    "centre-without-extent": (
        {"georeference": {"center_lat": -27.5, "center_lon": -70.3}},
        "needs extent_m",
        "extent_m",
    ),
}


@pytest.mark.parametrize(("body", "message", "field"), BAD_PATCHES.values(), ids=BAD_PATCHES.keys())
def test_bad_corrections_are_422_naming_the_field_and_change_nothing(
    client: TestClient,
    db_session: Session,
    placed_wrong: tuple[dict[str, Any], Path],
    body: dict[str, Any],
    message: str,
    field: str,
) -> None:
    observation, _ = placed_wrong
    response = client.patch(f"/api/observations/{observation['id']}", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"] and response.json()["field"] == f"georeference.{field}"
    assert_unchanged(client, db_session, observation)


def test_an_empty_correction_is_422(
    client: TestClient, db_session: Session, placed_wrong: tuple[dict[str, Any], Path]
) -> None:
    observation, _ = placed_wrong
    response = client.patch(f"/api/observations/{observation['id']}", json={})
    assert response.status_code == 422 and "Nothing to change" in response.json()["detail"]
    assert_unchanged(client, db_session, observation)


def test_schema_violations_are_422_naming_the_field(
    client: TestClient, db_session: Session, placed_wrong: tuple[dict[str, Any], Path]
) -> None:
    observation, _ = placed_wrong
    for body, location in [
        ({"georeference": {"bbox": [1, 2, 3]}}, ["body", "georeference", "bbox"]),
        (
            {"georeference": {"center_lat": 95, "center_lon": 1, "extent_m": 10}},
            ["body", "georeference", "center_lat"],
        ),
        ({"acquired_on": "31/12/2021"}, ["body", "acquired_on"]),
        ({"crs": "EPSG:4326"}, ["body", "crs"]),
    ]:
        response = client.patch(f"/api/observations/{observation['id']}", json=body)
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["detail"]] == [location]
    assert_unchanged(client, db_session, observation)


def test_only_project_admins_correct_observations(
    client: TestClient, client_for: Any, db_session: Session, placed_wrong: tuple[dict[str, Any], Path]
) -> None:
    observation, _ = placed_wrong
    project = db_session.get(Project, uuid.UUID(observation["project_id"]))
    assert project is not None
    for role in (ProjectRole.REVIEWER, ProjectRole.ANNOTATOR):
        member = make_user(db_session, role.value)
        add_member(db_session, project, member, role)
        response = client_for(member).patch(
            f"/api/observations/{observation['id']}",
            json={"georeference": {"bbox": list(BOX)}, "acquired_on": "2021-06-15"},
        )
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    assert_unchanged(client, db_session, observation)
    admin = make_user(db_session, "projectadmin")
    add_member(db_session, project, admin, ProjectRole.ADMIN)
    allowed = client_for(admin).patch(
        f"/api/observations/{observation['id']}", json={"acquired_on": "2021-06-15"}
    )
    assert allowed.status_code == 200, allowed.text


def test_a_processing_observation_keeps_its_georeferencing(client: TestClient, tmp_path: Path) -> None:
    image = tmp_path / "busy_000.png"
    write_plain(image, "PNG", width=WIDTH, height=HEIGHT)
    project = new_project(client, "busy")
    response = client.post(
        f"/api/projects/{project['id']}/images", files=[("files", (image.name, image.read_bytes()))]
    )
    (observation,) = response.json()["observations"]
    refused = client.patch(
        f"/api/observations/{observation['id']}", json={"georeference": {"bbox": list(BOX)}}
    )
    assert refused.status_code == 409 and "still being converted" in refused.json()["detail"]
    assert client.get(f"/api/observations/{observation['id']}").json()["georef_source"] == "none"


def assert_unchanged(client: TestClient, db_session: Session, observation: dict[str, Any]) -> None:
    now = client.get(f"/api/observations/{observation['id']}").json()
    for key in ("crs", "transform", "footprint", "georef_source", "acquired_on", "acquired_source", "tiles"):
        assert now[key] == observation[key], key
    assert (
        db_session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["georeference", "redate"]))).all()
        == []
    )
    assert db_session.scalars(select(Job).where(Job.kind == "georeference")).all() == []


@pytest.mark.slow
def test_the_georeference_job_moves_the_mercator_tiles_on_a_real_worker(
    worker: str, committing_client: TestClient, tmp_path: Path
) -> None:
    from tests.imagery.test_ingest_and_tiles import ingest

    image = tmp_path / "0854_007.png"
    write_plain(image, "PNG", width=WIDTH, height=HEIGHT, seed=7)
    side = sidecar(tmp_path, WRONG, image.name)
    (observation,) = ingest(committing_client, f"patch-worker-{uuid.uuid4().hex[:6]}", image, sidecar=side)
    before = committing_client.get(mercator_url(observation))
    response = committing_client.patch(
        f"/api/observations/{observation['id']}", json={"georeference": {"bbox": list(BOX)}}
    )
    assert response.status_code == 200, response.text
    job = wait_for_job(committing_client, response.json()["job"]["id"])
    assert job["result"]["written"] is True
    after = committing_client.get(f"/api/observations/{observation['id']}").json()
    assert (
        after["georeference_job_id"] is None
        and after["tiles"]["mercator"] != observation["tiles"]["mercator"]
    )
    moved = committing_client.get(mercator_url(after))
    assert moved.status_code == 200 and moved.content != before.content
    # Over the corrected footprint's centre, the tile is all image (opaque), where before it was not.
    with rasterio.MemoryFile(moved.content) as memfile, memfile.open() as img:
        assert img.read(img.count).min() == 255
