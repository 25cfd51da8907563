"""Placing plain images through the upload API: sidecar boxes in any CRS, world files with .prj or .aux.xml,
and every way to get it wrong answered 4xx with nothing stored."""

from __future__ import annotations

import json
import math
import subprocess
import uuid
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
from affine import Affine
from fastapi.testclient import TestClient
from pyproj import CRS, Transformer
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from app.models import Job, Observation, Project, Site
from tests.imagery.conftest import IngestHere
from tests.imagery.factories import write_geotiff, write_plain
from tests.imagery.test_ingest_and_tiles import decode
from tests.imagery.test_upload_validation import assert_nothing_stored, upload

WIDTH, HEIGHT = 300, 200
# A box around the workshop's copper mine 0854 (Atacama), and the same area in UTM 19S.
BOX_4326 = (-70.35, -27.56, -70.23, -27.47)
BOX_UTM = (366_000.0, 6_950_000.0, 378_000.0, 6_958_000.0)
UTM19S = "EPSG:32719"
MINELABEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "minelabel")


@pytest.fixture
def project(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/api/projects", json={"name": "Atacama georef"}).json()
    return body


def corners(footprint: dict[str, Any]) -> list[tuple[float, float]]:
    """Top-left, top-right, bottom-right, bottom-left of a footprint (each edge has 16 points)."""
    ring = footprint["coordinates"][0]
    return [(ring[i][0], ring[i][1]) for i in (0, 16, 32, 48)]


def box_corners(box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    west, south, east, north = box
    return [(west, north), (east, north), (east, south), (west, south)]


def to_crs(points: list[tuple[float, float]], crs: str) -> list[tuple[float, float]]:
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return [transformer.transform(x, y) for x, y in points]


def plain(tmp_path: Path, name: str, **options: Any) -> Path:
    path = tmp_path / name
    write_plain(path, "PNG" if name.endswith(".png") else "JPEG", width=WIDTH, height=HEIGHT, **options)
    return path


def test_a_csv_box_in_epsg_4326_puts_the_corners_exactly_on_it(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    image = plain(tmp_path, "0854_000.png")
    sidecar = tmp_path / "sidecar.csv"
    west, south, east, north = BOX_4326
    sidecar.write_text(f"filename,west,south,east,north\n0854_000.png,{west},{south},{east},{north}\n")
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    assert observation["georef_source"] == "sidecar" and observation["crs"] == "EPSG:4326"
    transform = Affine(*observation["transform"])
    assert transform * (0, 0) == (west, north)
    assert transform * (WIDTH, HEIGHT) == pytest.approx((east, south), abs=1e-12)
    for got, want in zip(corners(observation["footprint"]), box_corners(BOX_4326), strict=True):
        assert got == pytest.approx(want, abs=1e-9)
    # The site's location is the footprint's centre.
    (site,) = client.get(f"/api/projects/{project['id']}/sites").json()
    lon, lat = site["location"]["coordinates"]
    assert (lon, lat) == pytest.approx(((west + east) / 2, (south + north) / 2), abs=1e-9)


def test_a_json_box_in_utm_is_exact_to_the_millimetre(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    image = plain(tmp_path, "0854_001.png")
    sidecar = tmp_path / "sidecar.json"
    entry = {"filename": "0854_001.png", "bbox": ",".join(map(str, BOX_UTM)), "crs": UTM19S}
    sidecar.write_text(json.dumps([entry]))
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    assert observation["crs"] == UTM19S
    assert observation["transform"][:6] == [40.0, 0.0, 366_000.0, 0.0, -40.0, 6_958_000.0]
    back = to_crs(corners(observation["footprint"]), UTM19S)
    for got, want in zip(back, box_corners(BOX_UTM), strict=True):
        assert got == pytest.approx(want, abs=1e-3)


@pytest.mark.parametrize(
    ("crs", "stored"),
    [
        (CRS.from_epsg(32719).to_wkt(version="WKT1_ESRI"), UTM19S),  # as in an ESRI .prj
        ("+proj=utm +zone=19 +south +datum=WGS84 +units=m +no_defs", "wkt"),  # not exactly EPSG:32719
    ],
    ids=["esri-wkt", "proj-string"],
)
def test_a_box_takes_any_crs_proj_knows(
    client: TestClient, project: dict[str, Any], tmp_path: Path, crs: str, stored: str
) -> None:
    image = plain(tmp_path, "0854_002.png")
    sidecar = tmp_path / "sidecar.json"
    sidecar.write_text(json.dumps([{"filename": "0854_002.png", "bbox": list(BOX_UTM), "crs": crs}]))
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    if stored == "wkt":
        assert CRS.from_wkt(observation["crs"]).to_epsg() == 32719
    else:
        assert observation["crs"] == stored
    back = to_crs(corners(observation["footprint"]), UTM19S)
    for got, want in zip(back, box_corners(BOX_UTM), strict=True):
        assert got == pytest.approx(want, abs=1e-3)


BAD_SIDECARS = {
    "west-east": (
        "filename,west,south,east,north\nx.png,10,1,5,2\n",
        "west (10) must be less than east (5)",
        "bbox",
    ),
    "south-north": ('filename,bbox\nx.png,"1,5,2,3"\n', "south (5) must be less than north (3)", "bbox"),
    "latitude": ("filename,west,south,east,north\nx.png,1,80,2,95\n", "north = 95 is not a latitude", "bbox"),
    "longitude": (
        'filename,bbox,crs\nx.png,"170,1,190,2",EPSG:4326\n',
        "east = 190 is not a longitude",
        "bbox",
    ),
    "unknown-crs": (
        'filename,bbox,crs\nx.png,"1,1,2,2",EPSG:999999\n',
        "is not a CRS that PROJ knows",
        "crs",
    ),
    "vertical-crs": (
        'filename,bbox,crs\nx.png,"1,1,2,2",EPSG:5773\n',
        "needs a 2-D geographic or projected",
        "crs",
    ),
    "three-numbers": ('filename,bbox\nx.png,"1,2,3"\n', "bbox must be four numbers", "bbox"),
    "not-a-number": ("filename,west,south,east,north\nx.png,a,1,2,3\n", "west must be a number", "west"),
    "partial": (
        "filename,west,south,east\nx.png,1,2,3\n",
        "needs all of west, south, east and north; north",
        "north",
    ),
    "box-and-centre": (
        'filename,bbox,center_lat,center_lon\nx.png,"1,1,2,2",1,1\n',
        "either a bbox or a centre",
        "bbox",
    ),
    "crs-with-centre": (
        "filename,center_lat,center_lon,extent_m,crs\nx.png,1,1,100,EPSG:32633\n",
        "crs goes with a bbox or a world file",
        "crs",
    ),
}


@pytest.mark.parametrize(("content", "message", "field"), BAD_SIDECARS.values(), ids=BAD_SIDECARS.keys())
def test_bad_boxes_are_refused_naming_the_file_and_field(
    client: TestClient,
    project: dict[str, Any],
    tmp_path: Path,
    db_session: Session,
    files_dir: Path,
    content: str,
    message: str,
    field: str,
) -> None:
    image = plain(tmp_path, "x.png")
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(content)
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"].startswith("sidecar.csv, entry 1: ") and message in body["detail"], body
    assert body["code"] == "sidecar_invalid" and body["field"] == field
    assert_nothing_stored(db_session, files_dir)


def test_a_box_outside_its_crs_area_is_refused(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    image = plain(tmp_path, "far.png")
    sidecar = tmp_path / "sidecar.csv"
    # Web Mercator stops at about 85 degrees: y = 1e9 m has no latitude.
    sidecar.write_text('filename,bbox,crs\nfar.png,"0,1e9,1000,1.00001e9",EPSG:3857\n')
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 422, response.text
    assert "far.png" in response.json()["detail"] and "EPSG:3857" in response.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


def world_file(transform: Affine) -> str:
    """The six lines of a world file for ``transform`` (pixel corners): the top-left pixel's centre."""
    c, f = transform * (0.5, 0.5)
    return "\n".join(repr(v) for v in (transform.a, transform.d, transform.b, transform.e, c, f)) + "\n"


def test_a_pgw_with_a_prj_places_the_png_and_neither_becomes_an_observation(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session
) -> None:
    image = plain(tmp_path, "0854_003.png")
    transform = Affine(10.0, 0.0, 367_000.0, 0.0, -10.0, 6_960_000.0)
    (tmp_path / "0854_003.pgw").write_text(world_file(transform))
    (tmp_path / "0854_003.prj").write_text(CRS.from_epsg(32719).to_wkt(version="WKT1_ESRI"))
    response = upload(client, project, image, tmp_path / "0854_003.pgw", tmp_path / "0854_003.prj")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["rejected"] == []
    (observation,) = body["observations"]
    assert observation["georef_source"] == "world_file" and observation["crs"] == UTM19S
    assert observation["transform"][:6] == pytest.approx(list(transform)[:6], abs=1e-9)
    assert [s.name for s in db_session.scalars(select(Site))] == ["0854"]
    assert len(db_session.scalars(select(Observation)).all()) == 1


def test_a_rotated_world_file_gives_a_rotated_footprint(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    image = plain(tmp_path, "0854_004.jpg")
    # 10 m pixels, the grid turned 30 degrees: the rotation terms are not zero.
    turn = math.radians(30)
    a, d, b, e = 10 * math.cos(turn), 10 * math.sin(turn), 10 * math.sin(turn), -10 * math.cos(turn)
    transform = Affine(a, b, 367_000.0, d, e, 6_960_000.0)
    (tmp_path / "0854_004.jgw").write_text(world_file(transform))
    (tmp_path / "0854_004.prj").write_text(CRS.from_epsg(32719).to_wkt())
    response = upload(client, project, image, tmp_path / "0854_004.jgw", tmp_path / "0854_004.prj")
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    assert observation["transform"][:6] == pytest.approx(list(transform)[:6], abs=1e-9)
    expected = [transform * p for p in ((0, 0), (WIDTH, 0), (WIDTH, HEIGHT), (0, HEIGHT))]
    back = to_crs(corners(observation["footprint"]), UTM19S)
    for got, want in zip(back, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-3)
    # Not a north-up rectangle: the top edge climbs to the east.
    (x0, y0), (x1, y1) = back[0], back[1]
    assert y1 - y0 == pytest.approx(WIDTH * d, abs=1e-3) and y1 > y0 and x1 > x0


def test_a_pam_aux_xml_written_by_gdal_gives_crs_and_transform(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "pam_000.png"
    transform = Affine(10.0, 0.0, 360_000.0, 0.0, -10.0, 6_960_000.0)
    profile = {
        "driver": "PNG",
        "width": 40,
        "height": 30,
        "count": 3,
        "dtype": "uint8",
        "crs": UTM19S,
        "transform": transform,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((3, 30, 40), 100, dtype="uint8"))
    aux = tmp_path / "pam_000.png.aux.xml"
    assert "<GeoTransform>" in aux.read_text()  # GDAL's own PAM file
    response = upload(client, project, path, aux)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    assert observation["georef_source"] == "world_file" and observation["crs"] == UTM19S
    assert observation["transform"][:6] == list(transform)[:6]


def test_a_world_file_without_a_crs_asks_for_one(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    image = plain(tmp_path, "0854_005.png")
    (tmp_path / "0854_005.pgw").write_text(world_file(Affine(10, 0, 367_000, 0, -10, 6_960_000)))
    response = upload(client, project, image, tmp_path / "0854_005.pgw")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["rejected"][0]["filename"] == "0854_005.png"
    assert body["rejected"][0]["code"] == "auxiliary_file_invalid"
    assert "0854_005.pgw places the image but says nothing of its CRS" in body["detail"]
    assert "0854_005.prj" in body["detail"] and "crs in the sidecar" in body["detail"]
    assert_nothing_stored(db_session, files_dir)

    # The sidecar's crs is what it asked for.
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(f"filename,crs\n0854_005.png,{UTM19S}\n")
    again = upload(client, project, image, tmp_path / "0854_005.pgw", sidecar=sidecar)
    assert again.status_code == 202, again.text
    assert again.json()["observations"][0]["crs"] == UTM19S


BAD_WORLD_FILES = {
    "five-numbers": ("10\n0\n0\n-10\n367000\n", "holds six numbers, one per line, not 5"),
    "text": ("10\n0\n0\nminus ten\n367000\n6960000\n", "'minus' is not a number"),
    "collapsed": ("10\n0\n10\n0\n367000\n6960000\n", "collapse the image to a line"),
}


@pytest.mark.parametrize(("content", "message"), BAD_WORLD_FILES.values(), ids=BAD_WORLD_FILES.keys())
def test_a_bad_world_file_is_refused(
    client: TestClient,
    project: dict[str, Any],
    tmp_path: Path,
    db_session: Session,
    files_dir: Path,
    content: str,
    message: str,
) -> None:
    image = plain(tmp_path, "w_000.png")
    (tmp_path / "w_000.wld").write_text(content)
    (tmp_path / "w_000.prj").write_text(UTM19S)
    response = upload(client, project, image, tmp_path / "w_000.wld", tmp_path / "w_000.prj")
    assert response.status_code == 422, response.text
    assert "w_000.wld" in response.json()["detail"] and message in response.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


def test_two_placements_of_one_image_are_refused(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    image = plain(tmp_path, "two_000.png")
    (tmp_path / "two_000.pgw").write_text(world_file(Affine(10, 0, 367_000, 0, -10, 6_960_000)))
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(f'filename,bbox,crs\ntwo_000.png,"{",".join(map(str, BOX_UTM))}",{UTM19S}\n')
    response = upload(client, project, image, tmp_path / "two_000.pgw", sidecar=sidecar)
    assert response.status_code == 422, response.text
    assert (
        "both the sidecar (its bbox or centre) and two_000.pgw place the image" in response.json()["detail"]
    )

    geotiff = tmp_path / "own_000.tif"
    write_geotiff(geotiff)
    (tmp_path / "own_000.wld").write_text(world_file(Affine(10, 0, 367_000, 0, -10, 6_960_000)))
    own = upload(client, project, geotiff, tmp_path / "own_000.wld")
    assert own.status_code == 422, own.text
    detail = own.json()["detail"]
    assert (
        "own_000.tif carries its own georeferencing (EPSG:32633), which own_000.wld would replace" in detail
    )
    other_crs = tmp_path / "sidecar-crs.csv"
    other_crs.write_text(f"filename,crs\nown_000.tif,{UTM19S}\n")
    refused = upload(client, project, geotiff, sidecar=other_crs)
    assert refused.status_code == 422, refused.text
    assert "but the sidecar gives it the crs EPSG:32719" in refused.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


def test_auxiliary_files_that_place_nothing_are_listed_not_used(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session
) -> None:
    image = plain(tmp_path, "aux_000.png")
    (tmp_path / "stray.pgw").write_text(world_file(Affine(10, 0, 367_000, 0, -10, 6_960_000)))
    (tmp_path / "aux_000.prj").write_text(UTM19S)  # a CRS, but no world file to go with
    response = upload(client, project, image, tmp_path / "stray.pgw", tmp_path / "aux_000.prj")
    assert response.status_code == 202, response.text
    body = response.json()
    assert [o["georef_source"] for o in body["observations"]] == ["none"]
    rejected = {r["filename"]: r for r in body["rejected"]}
    assert set(rejected) == {"stray.pgw", "aux_000.prj"}
    assert {r["code"] for r in rejected.values()} == {"auxiliary_file_unused"}
    assert "belongs to no image of this upload" in rejected["stray.pgw"]["message"]
    assert "goes with a world file" in rejected["aux_000.prj"]["message"]
    only_aux = upload(client, project, tmp_path / "stray.pgw")
    assert only_aux.status_code == 422 and "No images in the upload" in only_aux.json()["detail"]
    assert len(db_session.scalars(select(Observation)).all()) == 1


def test_a_sidecar_crs_without_anything_to_place_is_refused(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    image = plain(tmp_path, "lone_000.png")
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(f"filename,crs\nlone_000.png,{UTM19S}\n")
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 422, response.text
    assert "the sidecar gives a crs, but neither a bbox nor a world file" in response.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


@pytest.mark.slow
def test_import_images_takes_world_files_from_the_folder(
    worker_env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "scenes"
    folder.mkdir()
    plain(folder, "pit_000.png")
    transform = Affine(10.0, 0.0, 367_000.0, 0.0, -10.0, 6_960_000.0)
    (folder / "pit_000.pgw").write_text(world_file(transform))
    (folder / "pit_000.prj").write_text(CRS.from_epsg(32719).to_wkt(version="WKT1_ESRI"))
    (folder / "roads.prj").write_text(UTM19S)  # a shapefile's, say: no image goes with it
    name = f"cli-world-{uuid.uuid4().hex[:6]}"
    try:
        created = subprocess.run(
            [MINELABEL, "create-project", name], env=worker_env, capture_output=True, text=True
        )
        assert created.returncode == 0, created.stderr
        result = subprocess.run(
            [MINELABEL, "import-images", name, str(folder)],
            env=worker_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        assert "1 image(s) ready in the project, 0 failed" in result.stderr
        assert "passed over roads.prj" in " ".join(result.stderr.split())
        with Session(engine) as session:
            project = session.scalars(select(Project).where(Project.name == name)).one()
            (observation,) = session.scalars(select(Observation).where(Observation.project_id == project.id))
            assert observation.georef_source.value == "world_file" and observation.crs == UTM19S
            assert observation.transform == pytest.approx(list(transform)[:6])
            assert observation.cog_key is not None
            cog = Path(worker_env["STORAGE__DATA_DIR"]) / observation.cog_key
        with rasterio.open(cog) as src:  # the COG carries the world file's georeferencing
            assert src.crs.to_epsg() == 32719 and src.transform.almost_equals(transform)
    finally:
        with Session(engine) as session:
            project_id = session.scalar(select(Project.id).where(Project.name == name))
            session.execute(delete(Project).where(Project.name == name))
            if project_id is not None:
                session.execute(delete(Job).where(Job.project_id == project_id))
            session.commit()


def test_a_rotated_image_is_written_rotated_and_warped_into_web_mercator(
    client: TestClient, ingest_here: IngestHere, project: dict[str, Any], tmp_path: Path, files_dir: Path
) -> None:
    image = tmp_path / "turned_000.png"
    pixels = write_plain(image, "PNG", width=WIDTH, height=HEIGHT)
    turn = math.radians(30)
    cos, sin = 10 * math.cos(turn), 10 * math.sin(turn)
    transform = Affine(cos, sin, 367_000.0, sin, -cos, 6_960_000.0)
    (tmp_path / "turned_000.wld").write_text(world_file(transform))
    (tmp_path / "turned_000.prj").write_text(UTM19S)
    (observation,) = ingest_here(project, image, tmp_path / "turned_000.wld", tmp_path / "turned_000.prj")
    assert observation["status"] == "ready"
    cog = next(files_dir.rglob(f"{observation['id']}/cog.tif"))
    with rasterio.open(cog) as src:
        assert src.crs.to_epsg() == 32719 and src.transform.almost_equals(transform)
        assert np.array_equal(src.read((1, 2, 3)), pixels)  # the pixel grid is the original's
    # The Web Mercator tile over the image's centre is image all round: the grid was turned, not shifted.
    lon, lat = Transformer.from_crs(UTM19S, "EPSG:4326", always_xy=True).transform(*transform * (150, 100))
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    url = observation["tiles"]["mercator"].replace("{z}/{x}/{y}.jpg", f"{tile.z}/{tile.x}/{tile.y}.png")
    response = client.get(url)
    assert response.status_code == 200, response.text
    _, alpha = decode(response.content)
    assert alpha is not None and alpha.min() == 255
