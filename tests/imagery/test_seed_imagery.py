"""The real seed imagery: the workshop's Sentinel-2 PNG series through the CLI, Landsat through the API."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from affine import Affine
from fastapi.testclient import TestClient
from pyproj import CRS, Transformer
from rasterio.io import MemoryFile
from rasterio.windows import Window
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Job, Observation, ObservationStatus, Project, Site
from tests.imagery.test_ingest_and_tiles import ingest

pytestmark = [pytest.mark.seed, pytest.mark.slow]

MINELABEL = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "minelabel")
SIDECAR = """filename,acquired,center_lat,center_lon,extent_m
0854_000.png,2019-01-15,-27.5182,-70.2901,10000
3548_000.png,2019-01-20,42.2619,63.8917,10000
"""


def test_cli_imports_the_workshop_series(
    seed_data: Path, worker_env: dict[str, str], settings: Settings, tmp_path: Path, engine: object
) -> None:
    from sqlalchemy import Engine, delete

    assert isinstance(engine, Engine)
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(SIDECAR)
    with Session(engine) as session:
        jobs_before = list(session.scalars(select(Job.id)))
    folder = seed_data / "minetracking2021"
    env = dict(worker_env)
    created = subprocess.run(
        [MINELABEL, "create-project", "Workshop 2021"], env=env, capture_output=True, text=True
    )
    assert created.returncode == 0, created.stderr
    try:
        result = subprocess.run(
            [MINELABEL, "import-images", "Workshop 2021", str(folder), "--sidecar", str(sidecar)],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "18 image(s) ready in the project, 0 failed" in result.stderr
        with Session(engine) as session:
            project = session.scalars(select(Project).where(Project.name == "Workshop 2021")).one()
            sites = {s.name: s for s in session.scalars(select(Site).where(Site.project_id == project.id))}
            assert set(sites) == {"0854", "3548"}
            rows = session.scalars(
                select(Observation).where(Observation.project_id == project.id).order_by(Observation.index)
            ).all()
            by_site = {name: [o.index for o in rows if o.site_id == site.id] for name, site in sites.items()}
            assert by_site == {"0854": list(range(8)), "3548": list(range(10))}
            assert all(o.status is ObservationStatus.READY for o in rows)
            first = next(o for o in rows if o.original_filename == "0854_000.png")
            assert (first.width, first.height, first.band_count, first.has_alpha) == (1000, 1000, 3, True)
            assert first.georef_source.value == "sidecar" and first.crs == "EPSG:32719"
            assert str(first.acquired_on) == "2019-01-15"
            jobs = session.scalars(select(Job).where(Job.kind == "ingest", Job.state == "succeeded")).all()
            assert any(len(j.params["observation_ids"]) == 18 for j in jobs)

            # The CLI again: every file is a duplicate, nothing is stored twice, and it says so.
            again = subprocess.run(
                [MINELABEL, "import-images", "Workshop 2021", str(folder)], env=env, capture_output=True,
                text=True, timeout=300,
            )  # fmt: skip
            assert again.returncode == 0, again.stderr
            assert again.stderr.count("skipped") == 18
            count = session.scalars(select(Observation).where(Observation.project_id == project.id)).all()
            assert len(count) == 18

            # The Landsat GeoTIFF through the CLI too (the folder's GeoJSON is not an image: passed over).
            landsat = subprocess.run(
                [MINELABEL, "import-images", "Workshop 2021", str(seed_data / "georef")], env=env,
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert landsat.returncode == 0, landsat.stderr
            assert "1 image(s) ready in the project, 0 failed" in landsat.stderr
            imported = session.scalars(
                select(Observation).where(Observation.original_filename == "landsat7_rgb_byte.tif")
            ).one()
            assert imported.georef_source.value == "file" and imported.crs == "EPSG:32618"

            # A tile at full resolution is the PNG's own pixels.
            cog = settings.storage.data_dir / first.cog_key  # type: ignore[operator]
            with rasterio.open(cog) as src:
                tile = src.read((1, 2, 3), window=Window(256, 512, 256, 256))
            with rasterio.open(folder / "0854_000.png") as src:
                assert np.array_equal(tile, src.read((1, 2, 3), window=Window(256, 512, 256, 256)))
    finally:
        with Session(engine) as session:
            session.execute(delete(Project).where(Project.name == "Workshop 2021"))
            session.execute(delete(Job).where(Job.id.not_in(jobs_before)))
            session.commit()


def test_api_imports_landsat_and_a_workshop_png_and_serves_matching_tiles(
    seed_data: Path, worker: str, committing_client: TestClient
) -> None:
    landsat = seed_data / "georef" / "landsat7_rgb_byte.tif"
    png = seed_data / "minetracking2021" / "3548_004.png"
    observation, workshop = ingest(committing_client, "Landsat", landsat, png)
    assert (workshop["site_name"], workshop["index"], workshop["georef_source"]) == ("3548", 4, "none")
    url = workshop["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", "2/3/0.png")
    with MemoryFile(committing_client.get(url).content) as memfile, memfile.open() as img:
        png_tile = img.read()[:3, :, : 1000 - 768]
    with rasterio.open(png) as src:
        assert np.array_equal(png_tile, src.read((1, 2, 3), window=Window(768, 0, 1000 - 768, 256)))

    assert observation["georef_source"] == "file" and observation["crs"] == "EPSG:32618"
    assert observation["nodata"] == 0.0
    assert (observation["width"], observation["height"]) == (791, 718)
    url = observation["tiles"]["pixel"].replace("{z}/{x}/{y}.jpg", "2/1/1.png")
    with MemoryFile(committing_client.get(url).content) as memfile, memfile.open() as img:
        tile, alpha = img.read()[:3], img.read(4)
    with rasterio.open(landsat) as src:
        window = src.read(window=Window(256, 256, 256, 256))
        nodata_mask = src.dataset_mask(window=Window(256, 256, 256, 256))
    valid = nodata_mask > 0
    assert np.array_equal(tile[:, valid], window[:, valid])
    assert ((alpha > 0) == valid).all()


def test_a_workshop_png_with_a_world_file_lands_where_the_world_file_says(
    seed_data: Path, worker: str, committing_client: TestClient, tmp_path: Path
) -> None:
    # A copy beside its own world file and .prj (never written next to the shared seed data).
    png = tmp_path / "0854_000.png"
    shutil.copyfile(seed_data / "minetracking2021" / "0854_000.png", png)
    # 10 m pixels in UTM 19S around the Atacama mine; the world file names the top-left pixel's centre.
    transform = Affine(10.0, 0.0, 362_000.0, 0.0, -10.0, 6_961_000.0)
    (tmp_path / "0854_000.pgw").write_text("10.0\n0.0\n0.0\n-10.0\n362005.0\n6960995.0\n")
    (tmp_path / "0854_000.prj").write_text(CRS.from_epsg(32719).to_wkt(version="WKT1_ESRI"))
    (observation,) = ingest(
        committing_client, "Workshop world file", png, tmp_path / "0854_000.pgw", tmp_path / "0854_000.prj"
    )
    assert (observation["width"], observation["height"]) == (1000, 1000)
    assert observation["georef_source"] == "world_file" and observation["crs"] == "EPSG:32719"
    assert observation["transform"][:6] == list(transform)[:6]
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32719", always_xy=True)
    ring = observation["footprint"]["coordinates"][0]
    pixels = ((0, 0), (1000, 0), (1000, 1000), (0, 1000))
    for point, pixel in zip((ring[0], ring[16], ring[32], ring[48]), pixels, strict=True):
        assert to_utm.transform(*point) == pytest.approx(transform * pixel, abs=1e-3)
    # The map shows it there: the Web Mercator tile over the mine's centre holds the PNG's pixels.
    lon, lat = Transformer.from_crs("EPSG:32719", "EPSG:4326", always_xy=True).transform(367_000, 6_956_000)
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 14)
    url = observation["tiles"]["mercator"].replace("{z}/{x}/{y}.jpg", f"{tile.z}/{tile.x}/{tile.y}.png")
    response = committing_client.get(url)
    assert response.status_code == 200
    with MemoryFile(response.content) as memfile, memfile.open() as img:
        assert img.read(img.count).min() == 255  # inside the image everywhere: fully opaque
