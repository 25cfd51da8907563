"""A georeferenced GeoTIFF in the labeling view: areas in hectares, and the basemap reprojected into the
image's pixel grid (the right Web Mercator tiles are fetched for where the image lies)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.actions import draw_polygon, html_attr, select_at, start_labeling
from tests.e2e.conftest import SEED_SERIES, E2EAccounts, Shot, create_e2e_project, synthetic_png
from tests.imagery.factories import write_geotiff

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LANDSAT = SEED_SERIES.parent / "georef" / "landsat7_rgb_byte.tif"
BASEMAP = re.compile(r"^https://tile\.openstreetmap\.org/(\d+)/(\d+)/(\d+)\.png$")


def georeferenced_tiff(tmp_path: Path) -> tuple[str, bytes]:
    """The Landsat seed GeoTIFF (EPSG:32618) where the seed data is, else one made here (UTM 33N)."""
    if LANDSAT.is_file():
        return "landsat_000.tif", LANDSAT.read_bytes()
    path = tmp_path / "made_000.tif"
    write_geotiff(path, width=1200, height=900)
    return path.name, path.read_bytes()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_hectares_and_a_basemap_where_the_image_lies(
    page: Page, committing_client: TestClient, worker: str, e2e_accounts: E2EAccounts, shot: Shot,
    tmp_path: Path,
) -> None:  # fmt: skip
    project = create_e2e_project(committing_client, e2e_accounts, [georeferenced_tiff(tmp_path)], False)
    (observation_id,) = project.observation_ids
    footprint = committing_client.get(f"/api/observations/{observation_id}").json()["footprint"]
    lons = [p[0] for p in footprint["coordinates"][0]]
    lats = [p[1] for p in footprint["coordinates"][0]]
    centre = ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)

    # The basemap host is not reachable from here: its tiles are answered by the test, and recorded.
    tile_png = synthetic_png()
    requested: list[tuple[int, int, int]] = []

    def basemap_tile(route: Route) -> None:
        route.fulfill(status=200, content_type="image/png", body=tile_png)

    def record(request: Request) -> None:
        if match := BASEMAP.match(request.url):
            requested.append((int(match[1]), int(match[2]), int(match[3])))

    page.route(BASEMAP, basemap_tile)
    page.on("request", record)
    start_labeling(page, e2e_accounts.annotator, project, observation_id)

    draw_polygon(page, [(-80, -60), (80, -60), (80, 60), (-80, 60)])
    html_attr(page, "save-state", "saved")
    select_at(page, 0, 0)
    expect(page.locator("[data-testid=selected-area]")).to_contain_text(re.compile(r"\d ha"))

    page.keyboard.press("Escape")
    with page.expect_request(BASEMAP) as first_tile:
        page.keyboard.press("b")
    html_attr(page, "basemap", "on")
    expect(page.locator(".ol-attribution")).to_contain_text("OpenStreetMap")
    match = BASEMAP.match(first_tile.value.url)
    assert match is not None
    z = int(match[1])
    x, y = tile_of(*centre, z)
    # The tile under the image's centre is among those fetched: the reprojection put the image where it lies.
    if (z, x, y) not in requested:
        page.wait_for_event("request", lambda r: r.url.endswith(f"/{z}/{x}/{y}.png"))
    assert all(abs(tx - x) <= 3 and abs(ty - y) <= 3 for tz, tx, ty in requested if tz == z), requested
    shot(page, "14-georeferenced-basemap")


def test_a_large_geotiff_zooms_to_full_resolution_without_asking_for_tiles_outside_it(
    page: Page, committing_client: TestClient, worker: str, e2e_accounts: E2EAccounts, shot: Shot,
    tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "large_000.tif"
    write_geotiff(path, width=5000, height=3500)
    project = create_e2e_project(committing_client, e2e_accounts, [(path.name, path.read_bytes())], False)
    (observation_id,) = project.observation_ids
    maxzoom = committing_client.get(f"/api/observations/{observation_id}").json()["tiles"]["maxzoom"]
    assert maxzoom >= 4  # several levels of overview below full resolution
    start_labeling(page, e2e_accounts.annotator, project, observation_id)

    # Wheel in over the map until full-resolution tiles are fetched; a tile outside the image would be a
    # 404, which the page fixture reports as a console error.
    full_resolution = re.compile(rf"/tiles/pixel/{maxzoom}/\d+/\d+\.png")
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
    with page.expect_request(full_resolution, timeout=30_000) as tile:
        for _ in range(12):
            page.mouse.wheel(0, -400)
    response = tile.value.response()
    assert response is not None and response.status == 200
    draw_polygon(page, [(-40, -30), (40, -30), (40, 30), (-40, 30)])
    html_attr(page, "save-state", "saved")
    shot(page, "17-large-geotiff-full-resolution")
