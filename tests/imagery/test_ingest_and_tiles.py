"""Upload -> ingest job on a real worker -> COG -> tiles that match the source pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from rasterio.io import MemoryFile
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from app.core.config import Settings
from tests.imagery.factories import write_geotiff, write_plain
from tests.jobs import wait_for_job

pytestmark = pytest.mark.slow


def ingest(
    client: TestClient, project_name: str, *paths: Path, sidecar: Path | None = None
) -> list[dict[str, Any]]:
    project = client.post("/api/projects", json={"name": project_name}).json()
    files = [("files", (p.name, p.read_bytes(), "image/tiff")) for p in paths]
    if sidecar:
        files.append(("sidecar", (sidecar.name, sidecar.read_bytes(), "text/csv")))
    response = client.post(f"/api/projects/{project['id']}/images", files=files)
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job"]["id"])
    assert job["result"]["failed"] == [] and job["progress"] == 1.0
    return [client.get(f"/api/observations/{o['id']}").json() for o in response.json()["observations"]]


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    with MemoryFile(data) as memfile, memfile.open() as img:
        array = img.read()
    if array.shape[0] in (2, 4):  # last band is the alpha mask
        return array[:-1], array[-1]
    return array, None


def test_uint8_geotiff_tiles_match_the_source(
    worker: str, committing_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "chuqui_000.tif"
    pixels = write_geotiff(source, width=700, height=600, count=3, dtype="uint8")
    (observation,) = ingest(committing_client, "tiles-uint8", source)
    assert observation["status"] == "ready"
    tiles = observation["tiles"]
    assert tiles["maxzoom"] == 2 and tiles["minzoom"] == 0

    cog = next(settings.storage.data_dir.rglob(f"{observation['id']}/cog.tif"))
    assert cog_validate(str(cog), quiet=True)[0]
    with rasterio.open(cog) as src:
        assert src.overviews(1), "the COG has overviews"
        assert src.crs.to_epsg() == 32633

    # Full resolution, tile (1, 1): the source window at (256, 256), pixel for pixel.
    url = tiles["pixel"].replace("{z}/{x}/{y}.jpg", "2/1/1.png")
    response = committing_client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    data, alpha = decode(response.content)
    assert np.array_equal(data, pixels[:, 256:512, 256:512])
    assert alpha is not None and alpha.min() == 255

    # An edge tile: the part beyond the image is transparent.
    edge, edge_alpha = decode(committing_client.get(url.replace("2/1/1.png", "2/2/2.png")).content)
    assert np.array_equal(edge[:, : 600 - 512, : 700 - 512], pixels[:, 512:, 512:])
    assert edge_alpha is not None and (edge_alpha[:, 700 - 512 :] == 0).all()

    # JPEG by default, with long cache headers and an ETag that answers 304.
    jpeg = committing_client.get(tiles["pixel"].replace("{z}/{x}/{y}", "0/0/0"))
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert "max-age=31536000" in jpeg.headers["cache-control"]
    again = committing_client.get(
        tiles["pixel"].replace("{z}/{x}/{y}", "0/0/0"), headers={"If-None-Match": jpeg.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""

    outside = committing_client.get(url.replace("2/1/1.png", "2/3/0.png"))
    assert outside.status_code == 404 and "outside the image" in outside.json()["detail"]
    too_deep = committing_client.get(url.replace("2/1/1.png", "9/0/0.png"))
    assert too_deep.status_code == 404

    # Web Mercator: the tile holding the image's centre has data; one far away is a 404.
    lon, lat = np.mean(observation["footprint"]["coordinates"][0][:-1], axis=0)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 12)
    mercator = committing_client.get(tiles["mercator"].replace("{z}/{x}/{y}.jpg", f"{t.z}/{t.x}/{t.y}.png"))
    assert mercator.status_code == 200
    merc_data, merc_alpha = decode(mercator.content)
    assert merc_alpha is not None and merc_alpha.max() == 255 and merc_data.shape == (3, 256, 256)
    far = committing_client.get(tiles["mercator"].replace("{z}/{x}/{y}", "12/0/0"))
    assert far.status_code == 404

    thumbnail = committing_client.get(observation["thumbnail_url"])
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    thumb, _ = decode(thumbnail.content)
    assert max(thumb.shape[1:]) == 256


def test_uint16_bands_use_the_site_stretch_and_presets(
    worker: str, committing_client: TestClient, tmp_path: Path
) -> None:
    first, second = tmp_path / "s2_000.tif", tmp_path / "s2_001.tif"
    names = ["B2", "B3", "B4", "B8"]
    a = write_geotiff(first, width=300, height=300, count=4, dtype="uint16", descriptions=names, seed=1)
    write_geotiff(second, width=300, height=300, count=4, dtype="uint16", descriptions=names, seed=2)
    obs_a, obs_b = ingest(committing_client, "tiles-uint16", first, second)
    site = committing_client.get(f"/api/projects/{obs_a['project_id']}/sites").json()[0]
    assert set(site["stretch"]) == {"1", "2", "3", "4"}
    assert obs_a["tiles"]["pixel"] == obs_b["tiles"]["pixel"].replace(
        obs_b["id"], obs_a["id"]
    )  # same version

    url = obs_a["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", "1/0/0.png")
    data, _ = decode(committing_client.get(url).content)
    # True colour is B4, B3, B2 -> bands 3, 2, 1, each scaled with the site's 2-98 % range.
    for out_band, source_band in enumerate((3, 2, 1)):
        low, high = site["stretch"][str(source_band)]
        expected = np.clip((a[source_band - 1, :256, :256] - low) / (high - low) * 255, 0, 255)
        assert np.abs(data[out_band].astype(float) - expected).max() <= 1.0

    false_color = committing_client.get(url + "&preset=false_color")
    fc, _ = decode(false_color.content)
    low, high = site["stretch"]["4"]
    expected_nir = np.clip((a[3, :256, :256] - low) / (high - low) * 255, 0, 255)
    assert np.abs(fc[0].astype(float) - expected_nir).max() <= 1.0


def test_plain_png_has_pixel_tiles_but_no_mercator(
    worker: str, committing_client: TestClient, tmp_path: Path
) -> None:
    image = tmp_path / "plain_000.png"
    pixels = write_plain(image, "PNG", width=300, height=280)
    (observation,) = ingest(committing_client, "tiles-png", image)
    assert observation["tiles"]["mercator"] is None
    url = observation["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", "1/0/0.png")
    data, _ = decode(committing_client.get(url).content)
    assert np.array_equal(data, pixels[:, :256, :256])
    refused = committing_client.get(url.replace("/pixel/", "/mercator/"))
    assert refused.status_code == 422 and "no georeferencing" in refused.json()["detail"]


def test_tiles_of_an_unready_observation_are_409(client: TestClient, tmp_path: Path) -> None:
    project = client.post("/api/projects", json={"name": "pending"}).json()
    image = tmp_path / "p_000.tif"
    write_geotiff(image)
    body = client.post(
        f"/api/projects/{project['id']}/images", files=[("files", (image.name, image.read_bytes()))]
    ).json()
    observation_id = body["observations"][0]["id"]
    response = client.get(f"/api/observations/{observation_id}/tiles/pixel/0/0/0.jpg")
    assert response.status_code == 409 and "is processing" in response.json()["detail"]


def test_deleting_an_observation_removes_its_files(
    worker: str, committing_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    image = tmp_path / "gone_000.tif"
    write_geotiff(image, width=200, height=200)
    (observation,) = ingest(committing_client, "deletion", image)
    folder = next(settings.storage.data_dir.rglob(observation["id"]))
    assert {p.name for p in folder.iterdir()} == {"original.tif", "cog.tif", "thumbnail.jpg", "pyramid"}
    assert committing_client.delete(f"/api/observations/{observation['id']}").status_code == 204
    assert not folder.exists()
    assert committing_client.get(f"/api/observations/{observation['id']}").status_code == 404


def test_window_read_helper_agrees_with_rasterio(tmp_path: Path) -> None:
    """The comparison above relies on rasterio reading windows as numpy slices do."""
    path = tmp_path / "w.tif"
    pixels = write_geotiff(path, width=100, height=80)
    with rasterio.open(path) as src:
        assert np.array_equal(src.read(window=Window(10, 20, 30, 40)), pixels[:, 20:60, 10:40])


def test_a_new_display_preset_re_renders_thumbnails(
    worker: str, committing_client: TestClient, tmp_path: Path
) -> None:
    source = tmp_path / "preset_000.tif"
    write_geotiff(
        source, width=300, height=300, count=4, dtype="uint16", descriptions=["B2", "B3", "B4", "B8"]
    )
    (observation,) = ingest(committing_client, "presets", source)
    before = committing_client.get(observation["thumbnail_url"]).content
    patched = committing_client.patch(
        f"/api/projects/{observation['project_id']}", json={"display_preset": "false_color"}
    )
    assert patched.status_code == 200
    jobs = committing_client.get("/api/jobs", params={"kind": "render"}).json()["items"]
    wait_for_job(committing_client, jobs[0]["id"])
    after = committing_client.get(f"/api/observations/{observation['id']}").json()
    assert after["thumbnail_url"] != observation["thumbnail_url"]  # new render version
    assert committing_client.get(after["thumbnail_url"]).content != before
