"""Acquisition dates through the upload API: the sidecar's, else the file's tags, else a Sentinel-2 or
Landsat name; each observation says which (``acquired_source``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rasterio
from fastapi.testclient import TestClient

from app.imagery.dates import date_from_filename, date_from_tags
from tests.imagery.factories import write_geotiff, write_plain
from tests.imagery.test_upload_validation import upload


@pytest.fixture
def project(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/api/projects", json={"name": "dates"}).json()
    return body


def tagged_geotiff(path: Path, **tags: str) -> Path:
    write_geotiff(path, width=64, height=64, seed=sum(map(ord, path.name)))  # a different image per name
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(**tags)
    return path


def observation_of(client: TestClient, project: dict[str, Any], *paths: Path, **kw: Any) -> dict[str, Any]:
    response = upload(client, project, *paths, **kw)
    assert response.status_code == 202, response.text
    (observation,) = response.json()["observations"]
    return dict(observation)


def test_tiff_datetime_is_read_from_the_file(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tagged_geotiff(tmp_path / "scene_000.tif", TIFFTAG_DATETIME="2021:06:15 10:10:31")
    with rasterio.open(path) as src:
        assert src.tags()["TIFFTAG_DATETIME"] == "2021:06:15 10:10:31"  # a real TIFF DateTime tag
    observation = observation_of(client, project, path)
    assert (observation["acquired_on"], observation["acquired_source"]) == ("2021-06-15", "metadata")


def test_an_acquisition_tag_wins_over_the_files_creation_time(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tagged_geotiff(
        tmp_path / "scene_001.tif",
        TIFFTAG_DATETIME="2023:01:02 00:00:00",  # when the file was processed
        DATATAKE_1_DATATAKE_SENSING_START="2021-06-15T10:10:31.024Z",  # Sentinel-2's sensing time
    )
    observation = observation_of(client, project, path)
    assert (observation["acquired_on"], observation["acquired_source"]) == ("2021-06-15", "metadata")


def test_a_sentinel2_name_dates_a_plain_image(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "T32TQM_20210615T101031_TCI_10m.png"
    write_plain(path, "PNG", width=64, height=64)
    observation = observation_of(client, project, path)
    assert (observation["acquired_on"], observation["acquired_source"]) == ("2021-06-15", "filename")


def test_the_sidecar_wins_over_tags_and_name(
    client: TestClient, project: dict[str, Any], tmp_path: Path
) -> None:
    name = "S2A_MSIL2A_20210615T101031_N0300_R022_T32TQM_20210615T123456.tif"
    path = tagged_geotiff(tmp_path / name, TIFFTAG_DATETIME="2020:01:01 00:00:00")
    sidecar = tmp_path / "sidecar.csv"
    sidecar.write_text(f"filename,acquired\n{name},2022-03-31\n")
    observation = observation_of(client, project, path, sidecar=sidecar)
    assert (observation["acquired_on"], observation["acquired_source"]) == ("2022-03-31", "sidecar")

    # Without the sidecar, the tags come before the name.
    other = tagged_geotiff(tmp_path / name.replace("S2A", "S2B"), TIFFTAG_DATETIME="2020:01:01 00:00:00")
    observation = observation_of(client, project, other)
    assert (observation["acquired_on"], observation["acquired_source"]) == ("2020-01-01", "metadata")


def test_no_date_anywhere_says_none(client: TestClient, project: dict[str, Any], tmp_path: Path) -> None:
    path = tagged_geotiff(tmp_path / "mine_000.tif", TIFFTAG_DATETIME="not a date")
    observation = observation_of(client, project, path)
    assert (observation["acquired_on"], observation["acquired_source"]) == (None, "none")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("S2A_MSIL2A_20210615T101031_N0300_R022_T32TQM_20210615T123456.SAFE.tif", "2021-06-15"),
        ("S2B_MSIL1C_20190301T143751_N0207_R096_T19JBG_20190301T175810.png", "2019-03-01"),
        ("T32TQM_20210615T101031_B04_10m.tif", "2021-06-15"),
        ("LC08_L2SP_044034_20210615_20210622_02_T1_SR_B4.TIF", "2021-06-15"),
        ("S2A_MSIL2A_20211399T101031_x.tif", None),  # no such day
        ("0854_000.png", None),
        ("report_20210615.png", None),  # a date, but not a product name
    ],
)
def test_product_names(name: str, expected: str | None) -> None:
    found = date_from_filename(name)
    assert (found.isoformat() if found else None) == expected


def test_tag_formats() -> None:
    assert str(date_from_tags({"tifftag_datetime": "2021:06:15 10:10:31"})) == "2021-06-15"
    assert str(date_from_tags({"DATE_ACQUIRED": "2021-06-15"})) == "2021-06-15"  # Landsat MTL
    assert str(date_from_tags({"ACQUISITIONDATETIME": "2021-06-15T23:30:00-02:00"})) == "2021-06-16"  # UTC
    assert date_from_tags({"TIFFTAG_DATETIME": "2021:02:30 00:00:00"}) is None
    assert date_from_tags({"AREA_OR_POINT": "Area"}) is None
