"""Change over time through the API, on known geometries with exact answers: a pit that grows by a known
area, one that appears, one that vanishes, Infrastructure that stays put while the second date has another
pixel grid (20 m pixels, another origin) over the same ground; a series without georeferencing in pixels;
which dates count; who may ask for drafts; the downloads read back with pyogrio."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyogrio import raw
from shapely import geometry as shp
from shapely import wkb
from sqlalchemy.orm import Session

from app.core.config import LimitSettings
from app.models import (
    GeorefSource,
    ModelState,
    ModelVersion,
    Observation,
    ObservationStatus,
    Project,
    ProjectRole,
    Site,
    TaskState,
    User,
)
from app.services.predictions import create_prediction
from tests.world import add_member, make_user, region_input

ClientFor = Callable[[User | None], TestClient]
# Date 1: 10 m pixels from (367580, 6960500) in UTM 19S; date 2: 20 m pixels from (367480, 6960600), so a
# ground point at date 1's pixel (c, r) is date 2's (5 + c / 2, 5 + r / 2).
GRID_1 = [10.0, 0.0, 367580.0, 0.0, -10.0, 6960500.0]
GRID_2 = [20.0, 0.0, 367480.0, 0.0, -20.0, 6960600.0]


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return shp.mapping(shp.box(x0, y0, x1, y1))


def on_grid_2(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """The ground of date 1's pixel box, in date 2's pixels."""
    return box(5 + x0 / 2, 5 + y0 / 2, 5 + x1 / 2, 5 + y1 / 2)


@pytest.fixture
def project(db_session: Session) -> Project:
    row = Project(name=f"change-{uuid.uuid4().hex[:6]}")
    db_session.add(row)
    db_session.commit()
    return row


def make_site(session: Session, project: Project, name: str = "0854") -> Site:
    site = Site(project_id=project.id, name=name)
    session.add(site)
    session.commit()
    return site


def make_date(
    session: Session, site: Site, index: int, day: date, transform: list[float] | None
) -> Observation:
    row = Observation(
        project_id=site.project_id,
        site_id=site.id,
        index=index,
        acquired_on=day,
        original_filename=f"{site.name}_{index:03}.png",
        content_hash=uuid.uuid4().hex,
        size_bytes=1,
        driver="PNG",
        width=1000,
        height=1000,
        band_count=3,
        band_names=["red", "green", "blue"],
        dtype="uint8",
        has_alpha=False,
        georef_source=GeorefSource.SIDECAR if transform else GeorefSource.NONE,
        crs="EPSG:32719" if transform else None,
        transform=transform,
        status=ObservationStatus.READY,
        original_key="k",
    )
    session.add(row)
    session.commit()
    return row


def label(
    client: TestClient,
    session: Session,
    observation: Observation,
    regions: list[tuple[str, dict[str, Any]]],
    *,
    approve: bool = True,
) -> dict[str, Any]:
    """Save an annotation through the API; ``approve`` makes it the task's ground truth."""
    saved = client.post(
        f"/api/observations/{observation.id}/annotations",
        json={"regions": [{"label": name, "geometry": geometry} for name, geometry in regions]},
    )
    assert saved.status_code == 201, saved.text
    body: dict[str, Any] = saved.json()
    observation.task_state = TaskState.APPROVED if approve else TaskState.IN_PROGRESS
    observation.ground_truth_annotation_id = uuid.UUID(body["id"]) if approve else None
    session.commit()
    return body


@pytest.fixture
def georeferenced(
    client: TestClient, db_session: Session, project: Project
) -> tuple[Site, Observation, Observation]:
    """Date 1: pits A (1 ha) and B (1 ha), Infrastructure (8 ha). Date 2 (another grid): A grown to 2 ha,
    B gone, C new (0.25 ha), the same Infrastructure."""
    site = make_site(db_session, project)
    first = make_date(db_session, site, 0, date(2021, 1, 15), GRID_1)
    second = make_date(db_session, site, 1, date(2021, 4, 15), GRID_2)
    label(
        client,
        db_session,
        first,
        [
            ("Pit", box(100, 100, 110, 110)),
            ("Pit", box(300, 300, 310, 310)),
            ("Infrastructure", box(600, 600, 640, 620)),
        ],
    )
    label(
        client,
        db_session,
        second,
        [
            ("Pit", on_grid_2(100, 100, 120, 110)),
            ("Pit", on_grid_2(500, 500, 505, 505)),
            ("Infrastructure", on_grid_2(600, 600, 640, 620)),
        ],
    )
    return site, first, second


def change_url(project: Project, site: Site, suffix: str = "change") -> str:
    return f"/api/projects/{project.id}/sites/{site.id}/{suffix}"


def test_gained_lost_and_unchanged_in_hectares_across_two_pixel_grids(
    client: TestClient, project: Project, georeferenced: tuple[Site, Observation, Observation]
) -> None:
    site, first, second = georeferenced
    answer = client.get(change_url(project, site))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["before"]["observation_id"], body["after"]["observation_id"]) == (
        str(first.id),
        str(second.id),
    )
    assert (body["space"], body["unit"], body["metric_crs"], body["reason"]) == (
        "utm",
        "ha",
        "EPSG:32719",
        None,
    )
    classes = {c["label"]: c for c in body["classes"]}
    pit, infrastructure = classes["Pit"], classes["Infrastructure"]
    # Hectares on the ellipsoid: within 0.1 % of the grid's areas (UTM's scale is 0.9998 here).
    for name, expected in {
        "before": 2.0,
        "after": 2.25,
        "gained": 1.25,
        "lost": 1.0,
        "unchanged": 1.0,
    }.items():
        assert pit[name] == pytest.approx(expected, rel=1e-3), name
    assert infrastructure["before"] == pytest.approx(8.0, rel=1e-3)
    assert infrastructure["unchanged"] == pytest.approx(infrastructure["before"], rel=1e-9)
    # The same ground in two grids is no change at all, not slivers of rounding.
    assert infrastructure["gained"] == infrastructure["lost"] == 0.0
    kinds = sorted((f["properties"]["label"], f["properties"]["change"]) for f in body["features"])
    assert kinds == [("Pit", "gained"), ("Pit", "lost")]
    gained = next(f for f in body["features"] if f["properties"]["change"] == "gained")
    # In metres of UTM 19S: pit A's new half (100 m x 100 m) and pit C (50 m x 50 m).
    assert shp.shape(gained["geometry"]).area == pytest.approx(12_500, rel=1e-9)
    assert gained["properties"]["area"] == pit["gained"]


def test_areas_agree_with_the_regions_own_hectares(
    client: TestClient, project: Project, georeferenced: tuple[Site, Observation, Observation]
) -> None:
    site, first, second = georeferenced
    pit = next(c for c in client.get(change_url(project, site)).json()["classes"] if c["label"] == "Pit")
    timeline = client.get(change_url(project, site, "timeline")).json()
    areas = {
        e["observation_id"]: {a["label"]: a["area"] for a in e["labels"]} for e in timeline["observations"]
    }
    assert timeline["unit"] == "ha"
    assert pit["before"] == pytest.approx(areas[str(first.id)]["Pit"], rel=1e-6)
    assert pit["after"] == pytest.approx(areas[str(second.id)]["Pit"], rel=1e-6)
    assert pit["gained"] - pit["lost"] == pytest.approx(pit["after"] - pit["before"], rel=1e-6)


def test_the_change_layer_in_the_later_images_pixels(
    client: TestClient, project: Project, georeferenced: tuple[Site, Observation, Observation]
) -> None:
    site, _, _ = georeferenced
    body = client.get(change_url(project, site), params={"crs": "pixel"}).json()
    shapes = {f["properties"]["change"]: shp.shape(f["geometry"]) for f in body["features"]}
    # Date 2's pixels are 20 m: pit A's new half is 5 x 5 px, pit C 2.5 x 2.5 px; pit B was 5 x 5 px.
    assert shapes["gained"].area == pytest.approx(31.25, rel=1e-6)
    assert shapes["lost"].area == pytest.approx(25.0, rel=1e-6)
    assert shapes["lost"].bounds == pytest.approx((155, 155, 160, 160), abs=1e-6)
    wgs84 = client.get(change_url(project, site), params={"crs": "EPSG:4326"}).json()
    lon, lat = shp.shape(wgs84["features"][0]["geometry"]).centroid.coords[0]
    assert -70.5 < lon < -69 and -28 < lat < -27


def test_downloads_read_back_equal_to_the_api(
    client: TestClient, project: Project, georeferenced: tuple[Site, Observation, Observation], tmp_path: Path
) -> None:
    site, _, _ = georeferenced
    api = client.get(change_url(project, site)).json()
    expected = {
        (f["properties"]["label"], f["properties"]["change"]): (
            shp.shape(f["geometry"]),
            f["properties"]["area"],
        )
        for f in api["features"]
    }
    for fmt, crs, expected_crs in (
        ("gpkg", None, "EPSG:32719"),
        ("geojson", "metric", "EPSG:32719"),
        ("geojson", None, "EPSG:4326"),
    ):
        params = {"crs": crs} if crs else {}
        download = client.get(change_url(project, site, f"change.{fmt}"), params=params)
        assert download.status_code == 200, download.text
        assert "attachment" in download.headers["content-disposition"]
        path = tmp_path / f"change-{crs}.{fmt}"
        path.write_bytes(download.content)
        meta, _, geometries, fields = raw.read(str(path))
        assert meta["crs"] == expected_crs, fmt
        names = list(meta["fields"])
        found = {}
        for i, geometry in enumerate(geometries):
            row = {name: fields[j][i] for j, name in enumerate(names)}
            found[(row["label"], row["change"])] = (wkb.loads(bytes(geometry)), row["area"])
        assert found.keys() == expected.keys()
        for key, (shape, area) in found.items():
            assert area == expected[key][1]
            if expected_crs == "EPSG:32719":
                assert shape.symmetric_difference(expected[key][0]).area < 1e-6


def test_a_series_without_georeferencing_is_compared_in_pixels_and_says_why(
    client: TestClient, db_session: Session, project: Project
) -> None:
    site = make_site(db_session, project)
    first = make_date(db_session, site, 0, date(2021, 1, 1), None)
    second = make_date(db_session, site, 1, date(2021, 4, 1), None)
    label(client, db_session, first, [("Pit", box(0, 0, 100, 100))])
    label(client, db_session, second, [("Pit", box(50, 0, 150, 100)), ("Outline", box(0, 0, 300, 300))])
    body = client.get(change_url(project, site)).json()
    assert (body["space"], body["unit"], body["metric_crs"]) == ("pixel", "px", None)
    assert body["reason"]["code"] == "not_georeferenced"
    assert body["reason"]["observation_id"] == str(first.id)
    classes = {c["label"]: c for c in body["classes"]}
    assert {k: classes["Pit"][k] for k in ("before", "after", "gained", "lost", "unchanged")} == {
        "before": 10_000,
        "after": 10_000,
        "gained": 5_000,
        "lost": 5_000,
        "unchanged": 5_000,
    }
    assert classes["Outline"]["gained"] == 90_000 and classes["Outline"]["before"] == 0
    timeline = client.get(change_url(project, site, "timeline")).json()
    assert timeline["unit"] == "px" and timeline["reason"]["code"] == "not_georeferenced"
    assert client.get(change_url(project, site), params={"crs": "EPSG:4326"}).status_code == 422


def test_only_approved_dates_count_unless_all_are_asked_for(
    client: TestClient, db_session: Session, project: Project, client_for: ClientFor
) -> None:
    site = make_site(db_session, project)
    dates = [make_date(db_session, site, i, date(2021, 1 + 3 * i, 1), None) for i in range(3)]
    label(client, db_session, dates[0], [("Pit", box(0, 0, 10, 10))])
    label(client, db_session, dates[1], [("Pit", box(0, 0, 20, 10))])
    label(client, db_session, dates[2], [("Pit", box(0, 0, 40, 10))], approve=False)  # a draft
    approved = client.get(change_url(project, site)).json()
    assert approved["after"]["observation_id"] == str(dates[1].id)
    everything = client.get(change_url(project, site), params={"include": "all"}).json()
    assert everything["before"]["observation_id"] == str(dates[1].id)
    assert everything["after"]["observation_id"] == str(dates[2].id)
    assert everything["classes"][0]["gained"] == 200
    refused = client.get(change_url(project, site), params={"after": str(dates[2].id)})
    assert refused.status_code == 422 and refused.json()["field"] == "after"
    assert "include=all" in refused.json()["detail"]
    timeline = client.get(change_url(project, site, "timeline")).json()
    assert [e["counted"] for e in timeline["observations"]] == [True, True, False]
    assert timeline["observations"][2]["labels"] == []

    # Annotators of a project that keeps drafts private see approved labels only.
    annotator = make_user(db_session, "ann")
    add_member(db_session, project, annotator, ProjectRole.ANNOTATOR)
    as_annotator = client_for(annotator)
    assert as_annotator.get(change_url(project, site)).status_code == 200
    for suffix in ("change", "timeline", "timeline.csv", "change.geojson"):
        denied = as_annotator.get(change_url(project, site, suffix), params={"include": "all"})
        assert denied.status_code == 403 and denied.json()["code"] == "forbidden", suffix
    project.annotators_see_others = True
    db_session.commit()
    assert as_annotator.get(change_url(project, site), params={"include": "all"}).status_code == 200


def test_bad_choices_of_dates_are_refused_naming_the_field(
    client: TestClient, db_session: Session, project: Project
) -> None:
    site = make_site(db_session, project)
    other_site = make_site(db_session, project, "0855")
    only = make_date(db_session, site, 0, date(2021, 1, 1), None)
    elsewhere = make_date(db_session, other_site, 0, date(2021, 1, 1), None)
    label(client, db_session, only, [("Pit", box(0, 0, 10, 10))])
    one_date = client.get(change_url(project, site))
    assert one_date.status_code == 422 and "needs two" in one_date.json()["detail"]
    foreign = client.get(change_url(project, site), params={"before": str(elsewhere.id)})
    assert foreign.status_code == 422 and foreign.json()["field"] == "before"
    same = client.get(change_url(project, site), params={"before": str(only.id), "after": str(only.id)})
    assert same.status_code == 422
    unknown_site = client.get(f"/api/projects/{project.id}/sites/{uuid.uuid4()}/timeline")
    assert unknown_site.status_code == 404 and unknown_site.json()["code"] == "site_not_found"
    wrong_crs = client.get(change_url(project, site), params={"crs": "EPSG:3857"})
    assert wrong_crs.status_code == 422


def test_timeline_with_the_champions_predictions_and_its_csv(
    client: TestClient,
    db_session: Session,
    project: Project,
    georeferenced: tuple[Site, Observation, Observation],
) -> None:
    site, first, second = georeferenced
    champion = ModelVersion(
        project_id=project.id,
        number=1,
        name="unet-v1",
        state=ModelState.TRAINED,
        classes=["Pit"],
        in_channels=3,
        is_champion=True,
    )
    db_session.add(champion)
    db_session.commit()
    limits = LimitSettings()
    create_prediction(
        db_session, second, "unet-v1", 0.8, [region_input("Pit", on_grid_2(0, 0, 10, 10))], limits
    )
    create_prediction(
        db_session, second, "other-model", 0.8, [region_input("Pit", box(0, 0, 100, 100))], limits
    )
    body = client.get(change_url(project, site, "timeline")).json()
    assert body["champion"] == "unet-v1" and body["classes"] == ["Pit", "Infrastructure", "Outline"]
    entries = {e["observation_id"]: e for e in body["observations"]}
    assert entries[str(first.id)]["predicted"] == []
    (predicted,) = entries[str(second.id)]["predicted"]
    assert predicted["label"] == "Pit" and predicted["area"] == pytest.approx(1.0, rel=1e-3)
    labels = {a["label"]: a for a in entries[str(second.id)]["labels"]}
    assert labels["Pit"]["regions"] == 2 and labels["Pit"]["area"] == pytest.approx(2.25, rel=1e-3)

    download = client.get(change_url(project, site, "timeline.csv"))
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    from_csv = {(r["observation_id"], r["series"], r["label"]): float(r["area"]) for r in rows}
    for entry in body["observations"]:
        for series in ("labels", "predicted"):
            for area in entry[series]:
                assert from_csv[(entry["observation_id"], series, area["label"])] == area["area"]
    assert len(rows) == sum(len(e["labels"]) + len(e["predicted"]) for e in body["observations"])
    assert {r["unit"] for r in rows} == {"ha"}
