"""Uploads through the API: every bad input gets a 4xx that says what is wrong, and leaves nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import LimitSettings, RedisSettings, Settings, StorageSettings
from app.main import create_app
from app.models import Job, Observation, Site
from tests.imagery.factories import VRT_READING_PASSWD, truncate, write_geotiff, write_plain
from tests.services import free_port


@pytest.fixture
def project(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/projects", json={"name": "Atacama copper"})
    assert response.status_code == 201
    project: dict[str, Any] = response.json()
    return project


@pytest.fixture
def client_with(
    settings: Settings, session_factory: sessionmaker[Session], files_dir: Path, admin_headers: dict[str, str]
) -> Callable[..., TestClient]:
    """A client on an app whose settings differ from the test settings in the groups given."""

    def make(**groups: Any) -> TestClient:
        changed = settings.model_copy(update={"storage": StorageSettings(data_dir=files_dir), **groups})
        return TestClient(create_app(changed, session_factory=session_factory), headers=admin_headers)

    return make


def upload(client: TestClient, project: dict[str, Any], *paths: Path, names: list[str] | None = None,
           sidecar: Path | None = None) -> Any:  # fmt: skip
    files = [("files", (name, path.read_bytes(), "application/octet-stream"))
             for path, name in zip(paths, names or [p.name for p in paths], strict=True)]  # fmt: skip
    if sidecar is not None:
        files.append(("sidecar", (sidecar.name, sidecar.read_bytes(), "text/plain")))
    return client.post(f"/api/projects/{project['id']}/images", files=files)


def assert_nothing_stored(db_session: Session, files_dir: Path) -> None:
    assert db_session.scalars(select(Observation)).all() == []
    assert db_session.scalars(select(Site)).all() == []
    assert db_session.scalars(select(Job).where(Job.kind == "ingest")).all() == []
    leftovers = [p for p in files_dir.rglob("*") if p.is_file()] if files_dir.exists() else []
    assert leftovers == []


def test_a_good_geotiff_is_registered_and_queued(
    client: TestClient, project: dict[str, Any], tmp_path: Path, files_dir: Path
) -> None:
    path = tmp_path / "kokpatas_003.tif"
    write_geotiff(path, count=4, dtype="uint16", descriptions=["B2", "B3", "B4", "B8"])
    response = upload(client, project, path)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["rejected"] == []
    assert body["job"]["kind"] == "ingest" and body["job"]["state"] == "queued"
    (observation,) = body["observations"]
    assert observation["site_name"] == "kokpatas"
    assert observation["index"] == 3
    assert observation["status"] == "processing"
    assert (observation["width"], observation["height"], observation["band_count"]) == (600, 500, 4)
    assert observation["band_names"] == ["B2", "B3", "B4", "B8"]
    assert observation["dtype"] == "uint16"
    assert observation["georef_source"] == "file" and observation["crs"] == "EPSG:32633"
    assert observation["footprint"]["type"] == "Polygon"
    lon, lat = observation["footprint"]["coordinates"][0][0]
    assert 14 < lon < 16 and 50 < lat < 51  # UTM 33N at 500 km E / 5600 km N
    assert observation["tiles"] is None  # not ready yet
    originals = [p for p in files_dir.rglob("original.tif")]
    assert len(originals) == 1 and originals[0].read_bytes() == path.read_bytes()
    assert not any((files_dir / "staging").iterdir())


def truncated(driver: str, keep: float) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        if driver == "GTiff":
            write_geotiff(path)
        else:
            write_plain(path, driver, width=400, height=400)
        truncate(path, keep)

    return make


def text(content: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(content)

    return make


def geotiff(**options: Any) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        write_geotiff(path, **options)

    return make


BAD_IMAGES = {
    "text": (text("just some text, not an image"), "notes.png", "not a PNG, JPEG or GeoTIFF"),
    "truncated-png": (truncated("PNG", 0.5), "cut.png", "damaged or truncated"),
    "truncated-jpeg": (truncated("JPEG", 0.6), "cut.jpg", "damaged or truncated"),
    "truncated-tiff": (truncated("GTiff", 0.7), "cut.tif", "damaged or truncated"),
    "vrt-named-tif": (text(VRT_READING_PASSWD), "scene.tif", "not a PNG, JPEG or GeoTIFF"),
    "vrt": (text(VRT_READING_PASSWD), "scene.vrt", "not a PNG, JPEG or GeoTIFF"),
    "int16": (geotiff(dtype="int16"), "signed.tif", "data type int16 is not supported"),
    "float64": (geotiff(dtype="float64"), "double.tif", "data type float64 is not supported"),
    "too-many-bands": (geotiff(count=14), "many.tif", "14 bands is more than the 13 supported"),
    "dot-dot": (geotiff(), "../../etc/evil.tif", "is not allowed"),
    "backslash": (geotiff(), "sub\\dir.tif", "is not allowed"),
    "double-dot": (geotiff(), "..tif", "is not allowed"),
}


@pytest.mark.parametrize(("make", "name", "message"), BAD_IMAGES.values(), ids=BAD_IMAGES.keys())
def test_bad_images_are_rejected_and_leave_nothing(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path,
    make: Callable[[Path], None], name: str, message: str,
) -> None:  # fmt: skip
    path = tmp_path / "input.bin"
    make(path)
    response = upload(client, project, path, names=[name])
    assert response.status_code == 422, response.text
    body = response.json()
    assert message in body["detail"]
    assert body["rejected"][0]["filename"] == name
    assert_nothing_stored(db_session, files_dir)


def test_an_image_above_the_pixel_limit_is_refused(
    client_with: Callable[..., TestClient], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    with client_with(limits=LimitSettings(max_image_pixels=100 * 100)) as client:
        project = client.post("/api/projects", json={"name": "limits"}).json()
        path = tmp_path / "big.tif"
        write_geotiff(path, width=200, height=100)
        response = upload(client, project, path)
    assert response.status_code == 422
    assert (
        "200 x 100 pixels is more than the limit of 10,000 (LIMITS__MAX_IMAGE_PIXELS)"
        in response.json()["detail"]
    )
    assert_nothing_stored(db_session, files_dir)


def test_a_file_above_the_size_limit_is_cut_off_with_413(
    client_with: Callable[..., TestClient], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    with client_with(limits=LimitSettings(max_upload_bytes=10_000)) as client:
        project = client.post("/api/projects", json={"name": "size"}).json()
        path = tmp_path / "site_000.tif"
        write_geotiff(path)
        response = upload(client, project, path)
    assert response.status_code == 413
    assert "larger than the limit of 10,000 bytes per file" in response.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


def test_duplicates_are_reported_not_stored_twice(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session
) -> None:
    first = tmp_path / "mine_000.tif"
    write_geotiff(first)
    assert upload(client, project, first).status_code == 202
    again = upload(client, project, first, names=["mine_001.tif"])
    assert again.status_code == 409
    assert "mine_001.tif is the same image as mine_000.tif, already in this project" in again.json()["detail"]
    within = tmp_path / "other_000.tif"
    write_geotiff(within, seed=7)
    both = upload(client, project, within, within, names=["other_000.tif", "other_001.tif"])
    assert both.status_code == 202
    assert [o["original_filename"] for o in both.json()["observations"]] == ["other_000.tif"]
    assert both.json()["rejected"][0]["code"] == "duplicate_image"
    assert len(db_session.scalars(select(Observation)).all()) == 2


def test_a_mixed_batch_keeps_the_good_files_and_reports_each_bad_one(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    good_a, good_b, bad = tmp_path / "a_000.png", tmp_path / "a_001.jpg", tmp_path / "a_002.png"
    write_plain(good_a, "PNG")
    write_plain(good_b, "JPEG", seed=3)
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    response = upload(client, project, good_a, good_b, bad)
    assert response.status_code == 202
    body = response.json()
    assert [o["original_filename"] for o in body["observations"]] == ["a_000.png", "a_001.jpg"]
    assert [o["index"] for o in body["observations"]] == [0, 1]
    assert [(r["filename"], r["code"]) for r in body["rejected"]] == [("a_002.png", "image_rejected")]
    rows = db_session.scalars(select(Observation).order_by(Observation.index)).all()
    assert [r.original_filename for r in rows] == ["a_000.png", "a_001.jpg"]
    assert all(r.georef_source.value == "none" and r.footprint is None for r in rows)
    assert len(list(files_dir.rglob("original.*"))) == 2


def test_an_index_taken_in_the_site_is_refused(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    write_geotiff(a)
    write_geotiff(b, seed=5)
    assert upload(client, project, a, names=["pit_004.tif"]).status_code == 202
    response = upload(client, project, b, names=["pit_004.tif"])
    assert response.status_code == 422
    assert "site pit already has an observation with index 4" in response.json()["detail"]


def test_sidecar_gives_dates_and_georeferences_plain_images(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    image = tmp_path / "0854_002.png"
    write_plain(image, "PNG", width=500, height=500)
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(
        "filename,acquired,center_lat,center_lon,extent_m\n0854_002.png,2020-06-30,-27.5182,-70.2901,5000\n"
    )
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    assert observation["acquired_on"] == "2020-06-30"
    assert observation["georef_source"] == "sidecar"
    assert observation["crs"] == "EPSG:32719"  # UTM 19S
    assert observation["transform"][0] == pytest.approx(10.0) and observation["transform"][
        4
    ] == pytest.approx(-10.0)
    ring = observation["footprint"]["coordinates"][0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lons) < -70.2901 < max(lons) and min(lats) < -27.5182 < max(lats)
    assert max(lats) - min(lats) == pytest.approx(5000 / 111_000, rel=0.02)
    sites = client.get(f"/api/projects/{project['id']}/sites").json()
    assert sites[0]["location"] == {"type": "Point", "coordinates": [-70.2901, -27.5182]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("filename,acquired\nx.png,31/12/2020\n", "acquired must be a date like 2021-03-31"),
        ("filename,center_lat,center_lon\nx.png,95,10\n", "center_lat = 95 is outside"),
        ("filename,center_lat\nx.png,10\n", "give both center_lat and center_lon"),
        ("acquired\n2020-01-01\n", "'filename' is missing"),
    ],
)
def test_a_bad_sidecar_rejects_the_upload(
    client: TestClient, project: dict[str, Any], tmp_path: Path, db_session: Session, files_dir: Path,
    content: str, message: str,
) -> None:  # fmt: skip
    image = tmp_path / "x.png"
    write_plain(image, "PNG")
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(content)
    response = upload(client, project, image, sidecar=sidecar)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert_nothing_stored(db_session, files_dir)


def test_upload_without_files_or_not_multipart(client: TestClient, project: dict[str, Any]) -> None:
    url = f"/api/projects/{project['id']}/images"
    raw = client.post(url, content=b"data", headers={"Content-Type": "application/octet-stream"})
    assert raw.status_code == 422 and "multipart/form-data" in raw.json()["detail"]
    empty = client.post(url, data={"note": "hello"}, files={"other": ("x.txt", b"x")})
    assert empty.status_code == 422 and "form fields named 'files'" in empty.json()["detail"]


def test_unknown_project_is_404(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    write_geotiff(path)
    response = upload(client, {"id": "00000000-0000-0000-0000-000000000000"}, path)
    assert response.status_code == 404


def test_projects_are_created_listed_and_named_uniquely(client: TestClient, app: FastAPI) -> None:
    created = client.post("/api/projects", json={"name": "Kokpatas", "display_preset": "false_color"})
    assert created.status_code == 201
    assert created.json()["display_preset"] == "false_color"
    duplicate = client.post("/api/projects", json={"name": "Kokpatas"})
    assert duplicate.status_code == 409 and "exists already" in duplicate.json()["detail"]
    assert [p["name"] for p in client.get("/api/projects").json()] == ["Kokpatas"]
    bad = client.post("/api/projects", json={"name": "x", "display_preset": "infrared"})
    assert bad.status_code == 422


def test_redis_down_during_upload_gives_503_and_leaves_nothing(
    client_with: Callable[..., TestClient], tmp_path: Path, db_session: Session, files_dir: Path
) -> None:
    with client_with(redis=RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")) as client:
        project = client.post("/api/projects", json={"name": "no queue"}).json()
        path = tmp_path / "q_000.tif"
        write_geotiff(path)
        response = upload(client, project, path)
    assert response.status_code == 503
    assert "Redis" in response.json()["detail"]
    assert db_session.scalars(select(Observation)).all() == []
    assert db_session.scalars(select(Site)).all() == []
    assert [p for p in files_dir.rglob("*") if p.is_file()] == []
    (job,) = db_session.scalars(select(Job).where(Job.kind == "ingest")).all()
    assert job.state.value == "failed"


def test_changing_the_display_preset_gives_new_tile_urls(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "s_000.tif"
    write_geotiff(path, count=4, dtype="uint16", descriptions=["B2", "B3", "B4", "B8"])
    upload(client, project, path)
    before = client.get(f"/api/projects/{project['id']}/sites").json()[0]["render_version"]
    response = client.patch(f"/api/projects/{project['id']}", json={"display_preset": "false_color"})
    assert response.status_code == 200 and response.json()["display_preset"] == "false_color"
    assert client.get(f"/api/projects/{project['id']}/sites").json()[0]["render_version"] == before + 1
    bad = client.patch(f"/api/projects/{project['id']}", json={"display_preset": "thermal"})
    assert bad.status_code == 422


def test_labeling_config_is_read_replaced_and_checked(client: TestClient, project: dict[str, Any]) -> None:
    assert [c["name"] for c in project["label_classes"]] == ["Pit", "Infrastructure", "Outline"]
    url = f"/api/projects/{project['id']}/labeling-config"
    current = client.get(url).json()
    assert current["from_name"] == "label" and current["to_name"] == "image"
    assert current["classes"][0] == {"name": "Pit", "color": "red"}
    new = (
        '<View><Image name="img" value="$image"/><PolygonLabels name="poly" toName="img">'
        '<Label value="Pit" background="#c00"/><Label value="Waste dump" background="grey"/>'
        "</PolygonLabels></View>"
    )
    replaced = client.put(url, json={"config": new})
    assert replaced.status_code == 200
    assert [c["name"] for c in replaced.json()["classes"]] == ["Pit", "Waste dump"]
    assert client.get(f"/api/projects/{project['id']}").json()["label_classes"][1]["color"] == "grey"
    refused = client.put(url, json={"config": "<View><Image name='i' value='$image'/></View>"})
    assert refused.status_code == 422
    assert "has no <PolygonLabels> tag" in refused.json()["detail"]
    assert client.get(url).json()["config"] == new  # the refused config changed nothing


def test_a_project_with_a_bad_config_is_not_created(client: TestClient) -> None:
    response = client.post("/api/projects", json={"name": "x", "labeling_config": "<View/>"})
    assert response.status_code == 422 and "PolygonLabels" in response.json()["detail"]
    assert client.get("/api/projects").json() == []
