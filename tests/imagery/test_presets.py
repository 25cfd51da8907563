"""Display presets through the API: an unsupported ``?preset`` is a 422 naming the supported ones, the
project's preset falls back visibly, and elevation models are shaded or coloured in every rendering (pixel
and Web Mercator tiles, thumbnails, the masks export's image chips)."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import morecantile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from rasterio.transform import xy
from rasterio.warp import transform as warp

from tests.imagery.conftest import IngestHere
from tests.imagery.factories import ORIGIN, UTM33N, write_cone_dem, write_geotiff, write_plain
from tests.imagery.test_ingest_and_tiles import decode

Ready = Callable[..., list[dict[str, Any]]]
SIZE = 512  # the cone DEM: summit at pixel (256, 256), slopes out to a radius of about 205 px
DEM_CELL = 30.0


@pytest.fixture
def ready(client: TestClient, ingest_here: IngestHere) -> Ready:
    """Observations of files uploaded into a new project with the given display preset, ready."""

    def make(*paths: Path, preset: str = "true_color") -> list[dict[str, Any]]:
        name = f"presets-{uuid.uuid4().hex[:6]}"
        project = client.post("/api/projects", json={"name": name, "display_preset": preset}).json()
        return ingest_here(project, *paths)

    return make


def pixel_tile(
    client: TestClient, observation: dict[str, Any], z: int, x: int, y: int, query: str = ""
) -> Any:
    url = observation["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", f"{z}/{x}/{y}.png") + query
    return client.get(url)


def window_mean(band: np.ndarray, row: int, col: int, half: int = 8) -> float:
    return float(band[row - half : row + half, col - half : col + half].astype(float).mean())


def test_a_preset_the_image_lacks_is_a_422_naming_those_it_has(
    client: TestClient, ready: Ready, tmp_path: Path
) -> None:
    path = tmp_path / "rgb_000.tif"
    write_geotiff(path, width=300, height=300, count=3, dtype="uint8")
    (observation,) = ready(path)
    assert observation["presets"] == ["true_color"]
    assert observation["display_preset"] == "true_color" and observation["preset_fallback"] is None
    for preset in ("swir", "false_color", "hillshade"):
        response = pixel_tile(client, observation, 0, 0, 0, f"&preset={preset}")
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "preset_not_supported" and body["supported"] == ["true_color"]
        assert f"Preset {preset} needs bands this image does not have" in body["detail"]
        assert "it supports true_color" in body["detail"]
    assert pixel_tile(client, observation, 0, 0, 0, "&preset=true_color").status_code == 200


def test_the_projects_preset_falls_back_to_true_colour_and_says_so(
    client: TestClient, ready: Ready, tmp_path: Path
) -> None:
    path = tmp_path / "rgbn_000.tif"
    write_geotiff(path, width=300, height=300, count=4, dtype="uint16", descriptions=["B2", "B3", "B4", "B8"])
    (observation,) = ready(path, preset="swir")
    assert observation["presets"] == ["true_color", "false_color"]
    assert observation["display_preset"] == "true_color"
    fallback = observation["preset_fallback"]
    assert (fallback["requested"], fallback["shown"]) == ("swir", "true_color")
    assert "swir needs bands this image does not have; it is shown as true_color" in fallback["message"]
    # The project's default is not an error: the tile is the true colour one (B4, B3, B2).
    default = pixel_tile(client, observation, 1, 0, 0)
    assert default.status_code == 200
    assert default.content == pixel_tile(client, observation, 1, 0, 0, "&preset=true_color").content
    assert default.content != pixel_tile(client, observation, 1, 0, 0, "&preset=false_color").content
    assert pixel_tile(client, observation, 1, 0, 0, "&preset=swir").status_code == 422


def test_a_grey_image_has_no_presets_and_stays_grey(client: TestClient, ready: Ready, tmp_path: Path) -> None:
    for dtype in ("uint8", "uint16"):
        path = tmp_path / f"grey_{dtype}_000.tif"
        pixels = write_geotiff(path, width=200, height=200, count=1, dtype=dtype)
        (observation,) = ready(path)
        assert observation["presets"] == [] and observation["display_preset"] is None
        assert observation["preset_fallback"]["shown"] is None
        data, _ = decode(pixel_tile(client, observation, 0, 0, 0).content)
        assert data.shape[0] == 1  # one grey band, not shaded
        if dtype == "uint8":
            assert np.array_equal(data[0, :200, :200], pixels[0])
        refused = pixel_tile(client, observation, 0, 0, 0, "&preset=hillshade")
        assert refused.status_code == 422 and refused.json()["supported"] == []
        assert "it supports no preset and is shown as its own band" in refused.json()["detail"]


@pytest.fixture
def dem(ready: Ready, tmp_path: Path) -> tuple[dict[str, Any], np.ndarray]:
    path = tmp_path / "cone_000.tif"
    elevation = write_cone_dem(path, size=SIZE, cell_m=DEM_CELL, nodata=-9999.0)
    (observation,) = ready(path)
    return observation, elevation


def test_a_dem_offers_hillshade_and_elevation_and_shows_hillshade(
    client: TestClient, dem: tuple[dict[str, Any], np.ndarray]
) -> None:
    observation, elevation = dem
    assert observation["dtype"] == "float32" and observation["band_count"] == 1
    assert observation["presets"] == ["hillshade", "elevation"]
    assert observation["display_preset"] == "hillshade"
    assert observation["preset_fallback"]["shown"] == "hillshade"  # the project asks for true colour
    refused = pixel_tile(client, observation, 0, 0, 0, "&preset=true_color")
    assert refused.status_code == 422 and refused.json()["supported"] == ["hillshade", "elevation"]

    # Zoom 0 is the whole 512 px cone at half resolution: the summit at (128, 128).
    shaded, alpha = decode(pixel_tile(client, observation, 0, 0, 0).content)
    assert shaded.shape[0] == 1 and alpha is not None
    assert (alpha[:3, :3] == 0).all() and alpha[5:, 5:].min() == 255  # the corner without data stays clear
    assert shaded == pytest.approx(
        decode(pixel_tile(client, observation, 0, 0, 0, "&preset=hillshade").content)[0]
    )
    north_west, south_east = window_mean(shaded[0], 78, 78), window_mean(shaded[0], 178, 178)
    north_east, south_west = window_mean(shaded[0], 78, 178), window_mean(shaded[0], 178, 78)
    flat = window_mean(shaded[0], 245, 128, half=4)  # beyond the cone's foot
    # Lit from the north-west at 45 degrees: the slope facing the light is brighter than flat ground, the
    # one facing away darker, and the side-lit ones in between (9 degree slopes: about 207, 180, 149).
    assert north_west > flat + 15 > south_east + 30
    assert abs(north_east - south_west) < 3 and abs(north_east - flat) < 10
    assert north_west == pytest.approx(207, abs=6) and south_east == pytest.approx(149, abs=6)

    # Not the grey stretch of the band that the image would otherwise show.
    site = client.get(f"/api/projects/{observation['project_id']}/sites").json()[0]
    low, high = site["stretch"]["1"]
    grey = np.clip((elevation[::2, ::2] - low) / (high - low) * 255, 0, 255)
    assert np.abs(shaded[0].astype(float) - grey).mean() > 40

    # The elevation ramp is colour (not grey), and darker in the lowlands than at the summit.
    coloured, _ = decode(pixel_tile(client, observation, 0, 0, 0, "&preset=elevation").content)
    assert coloured.shape[0] == 3
    red, green, blue = (c.astype(int) for c in coloured)
    assert (np.abs(red - green) + np.abs(green - blue)).mean() > 20
    assert coloured[:, 128, 128].tolist() != coloured[:, 250, 20].tolist()


def test_dem_thumbnails_mercator_tiles_and_mask_chips_are_shaded_too(
    client: TestClient, dem: tuple[dict[str, Any], np.ndarray]
) -> None:
    observation, _ = dem
    thumbnail, _ = decode(client.get(observation["thumbnail_url"]).content)
    assert thumbnail.shape == (1, 256, 256)
    assert window_mean(thumbnail[0], 78, 78) > window_mean(thumbnail[0], 178, 178) + 40

    def mercator_mean(row: int, col: int) -> float:
        x, y = xy(ORIGIN, row, col)
        (lon,), (lat,) = warp(UTM33N, "EPSG:4326", [x], [y])
        tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
        url = observation["tiles"]["mercator"].replace("{z}/{x}/{y}.jpg", f"{tile.z}/{tile.x}/{tile.y}.png")
        response = client.get(url)
        assert response.status_code == 200, response.text
        data, alpha = decode(response.content)
        assert data.shape[0] == 1 and alpha is not None and alpha.min() == 255
        return float(data.astype(float).mean())

    assert mercator_mean(156, 156) > mercator_mean(356, 356) + 40  # north-west slope, south-east slope

    response = client.get(
        f"/api/projects/{observation['project_id']}/export",
        params={"format": "masks", "all_states": "true", "chip_size": 256},
    )
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        north_west_chip, _ = decode(archive.read("images/cone/cone_000_r0_c0.png"))
        south_east_chip, _ = decode(archive.read("images/cone/cone_000_r1_c1.png"))
    assert north_west_chip.shape[0] == 1 and south_east_chip.shape[0] == 1
    # Full resolution: the north-west slope at (156, 156), the south-east one at (356, 356) = (100, 100).
    assert window_mean(north_west_chip[0], 156, 156) > window_mean(south_east_chip[0], 100, 100) + 40


def test_a_dem_project_shows_elevation_without_a_fallback(
    client: TestClient, ready: Ready, tmp_path: Path
) -> None:
    dem_path, rgb_path = tmp_path / "hill_000.tif", tmp_path / "hill_001.png"
    write_cone_dem(dem_path, size=256)
    write_plain(rgb_path, "PNG", width=256, height=256)
    dem_observation, rgb = ready(dem_path, rgb_path, preset="elevation")
    assert dem_observation["display_preset"] == "elevation" and dem_observation["preset_fallback"] is None
    coloured, _ = decode(pixel_tile(client, dem_observation, 0, 0, 0).content)
    assert coloured.shape[0] == 3
    assert rgb["display_preset"] == "true_color" and rgb["preset_fallback"]["requested"] == "elevation"
