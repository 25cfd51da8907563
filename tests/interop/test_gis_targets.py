"""GIS imports that fit real datasets, through the API on real PostGIS: features outside the image skipped,
clipped or refused (outside=skip|clip|fail) with their counts; a whole site or project as the target, each
feature on every observation whose footprint it overlaps, optionally only on its date; class values
mapped with label_map; messages that say where things are in lon/lat; options checked before anything is
read; and the Ashanti mining polygons of the seed data onto an image that covers a few of them."""

from __future__ import annotations

import math
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from geoalchemy2.shape import from_shape
from pyogrio import raw
from pyproj import Transformer
from rasterio import Affine
from shapely import geometry as shp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.imagery.georef import footprint_wgs84
from app.models import (
    Annotation,
    GeorefSource,
    Observation,
    ObservationStatus,
    Prediction,
    Project,
    Region,
    Site,
)
from tests.interop.test_gis import feature_collection, near, pixel_vertices, post_import, problems_of
from tests.world import make_project

UTM_19S = "EPSG:32719"
HERE = [10.0, 0.0, 367588.2, 0.0, -10.0, 6960504.4]  # 10 m pixels near Calendaria (Chile), 1000 x 1000 px
THERE = [10.0, 0.0, 467588.2, 0.0, -10.0, 6960504.4]  # 100 km east of it


def at(
    session: Session,
    project: Project,
    site: str,
    index: int,
    transform: list[float],
    acquired_on: date | None,
    *,
    crs: str = UTM_19S,
    size: tuple[int, int] = (1000, 1000),
) -> Observation:
    """A ready georeferenced observation with its footprint in PostGIS, as an ingest makes it."""
    site_row = session.scalars(select(Site).where(Site.project_id == project.id, Site.name == site)).first()
    if site_row is None:
        site_row = Site(project_id=project.id, name=site)
        session.add(site_row)
        session.flush()
    width, height = size
    footprint = footprint_wgs84(crs, Affine(*transform), width, height)
    row = Observation(
        project_id=project.id,
        site_id=site_row.id,
        index=index,
        original_filename=f"{site}_{index:03}.tif",
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
        crs=crs,
        transform=transform,
        acquired_on=acquired_on,
        footprint=from_shape(shp.shape(footprint), srid=4326),
        status=ObservationStatus.READY,
        original_key="k",
    )
    session.add(row)
    session.commit()
    return row


def lonlat_of(transform: list[float], x: float, y: float) -> tuple[float, float]:
    to_wgs84 = Transformer.from_crs(UTM_19S, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(*(Affine(*transform) * (x, y)))
    return float(lon), float(lat)


def square(transform: list[float], x: float, y: float, size: float) -> dict[str, Any]:
    """A square of the pixel space of an image with ``transform``, as an EPSG:4326 GeoJSON polygon."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]
    return {"type": "Polygon", "coordinates": [[list(lonlat_of(transform, *c)) for c in corners]]}


def extent(transform: list[float], x: float, y: float, size: float) -> str:
    """How messages give a square's extent: ``lon W to E, lat S to N``."""
    polygon = shp.shape(square(transform, x, y, size))
    west, south, east, north = polygon.bounds
    return f"lon {west:.5f} to {east:.5f}, lat {south:.5f} to {north:.5f}"


def stored(session: Session, project: Project) -> tuple[int, int, int]:
    def count(model: Any) -> int:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.project_id == project.id)) or 0
        )

    return count(Annotation), count(Prediction), count(Region)


def regions_on(session: Session, observation: Observation) -> list[Region]:
    return list(
        session.scalars(
            select(Region)
            .where(Region.observation_id == observation.id)
            .order_by(Region.label, Region.area_px)
        )
    )


@pytest.fixture
def one(db_session: Session) -> tuple[Project, Observation]:
    project = make_project(db_session, "outside")
    return project, at(db_session, project, "0854", 0, HERE, date(2021, 3, 14))


def four_features() -> bytes:
    """Inside, across the right edge, and two wholly outside (one 100 km away, one in Ghana)."""
    ghana = {"type": "Polygon", "coordinates": [[[-1.7, 6.2], [-1.6, 6.2], [-1.6, 6.3], [-1.7, 6.2]]]}
    return feature_collection(
        (square(HERE, 100, 100, 50), {"class": "Pit"}),
        (square(HERE, 950, 500, 100), {"class": "Pit"}),
        (square(THERE, 10, 10, 50), {"class": "Pit"}),
        (ghana, {"class": "Pit"}),
    )


def test_outside_skip_skips_and_counts_features_off_the_image_and_clips_those_across_its_edge(
    client: TestClient, db_session: Session, one: tuple[Project, Observation]
) -> None:
    project, observation = one
    response = post_import(client, project, four_features(), observation_id=str(observation.id))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["items_read"], report["annotations_created"], report["regions_created"]) == (4, 1, 2)
    assert report["skipped"] == {"outside_image": 2} and report["clipped"] == 1
    skipped = next(n for n in report["notes"] if "were skipped (outside=skip)" in n)
    assert skipped.startswith("2 feature(s) touch no image of observation 0854_000.tif and were skipped")
    west = shp.shape(square(THERE, 10, 10, 50)).bounds[0]
    assert f"they span lon {west:.5f} to -1.60000, lat " in skipped  # from the far square to Ghana
    assert "the image covers lon -70." in skipped
    assert "1 feature(s) reached past the image's edge and were clipped to it" in report["notes"]
    inside, clipped = regions_on(db_session, observation)  # by area: 2,500 and 5,000 px
    assert near(pixel_vertices(inside), [(100, 100), (150, 100), (150, 150), (100, 150)])
    assert near(pixel_vertices(clipped), [(950, 500), (1000, 500), (1000, 600), (950, 600)])


def test_outside_clip_refuses_features_wholly_outside_saying_where_in_lon_lat(
    client: TestClient, db_session: Session, one: tuple[Project, Observation]
) -> None:
    project, observation = one
    problems = problems_of(
        post_import(client, project, four_features(), observation_id=str(observation.id), outside="clip")
    )
    assert [p["feature"] for p in problems] == [2, 3]
    far = problems[0]["message"]
    assert far.startswith("feature 2: it lies wholly outside the image of observation 0854_000.tif")
    assert f"the feature spans {extent(THERE, 10, 10, 50)}" in far
    assert f"the image covers {extent(HERE, 0, 0, 1000)}" in far
    assert "px" not in far and "pixel" not in far  # never in pixels of another place
    assert "lon -1.70000 to -1.60000, lat 6.20000 to 6.30000" in problems[1]["message"]
    assert stored(db_session, project) == (0, 0, 0)


def test_outside_fail_refuses_features_across_the_edge_too(
    client: TestClient, db_session: Session, one: tuple[Project, Observation]
) -> None:
    project, observation = one
    problems = problems_of(
        post_import(client, project, four_features(), observation_id=str(observation.id), outside="fail")
    )
    assert [p["feature"] for p in problems] == [1, 2, 3]
    assert "it crosses the edge of 0854_000.tif's image" in problems[0]["message"]
    assert "pass outside=clip" in problems[0]["message"]
    assert stored(db_session, project) == (0, 0, 0)
    inside = feature_collection((square(HERE, 100, 100, 50), {"class": "Pit"}))
    response = post_import(client, project, inside, observation_id=str(observation.id), outside="fail")
    assert response.status_code == 200 and response.json()["regions_created"] == 1, response.text


def test_a_file_of_which_nothing_lands_is_refused_with_both_extents_in_lon_lat(
    client: TestClient, db_session: Session, one: tuple[Project, Observation]
) -> None:
    project, observation = one
    far = feature_collection((square(THERE, 10, 10, 50), {"class": "Pit"}))
    (problem,) = problems_of(post_import(client, project, far, observation_id=str(observation.id)))
    assert problem["message"].startswith(
        "none of the file's 1 feature(s) landed on observation 0854_000.tif: 1 touch none of its images."
    )
    assert f"The file spans {extent(THERE, 10, 10, 50)}" in problem["message"]
    assert f"the image covers {extent(HERE, 0, 0, 1000)}" in problem["message"]
    (site,) = problems_of(post_import(client, project, far))
    assert (
        "landed on the project" in site["message"] and "its 1 georeferenced image(s) cover" in site["message"]
    )
    assert stored(db_session, project) == (0, 0, 0)


class Sites:
    """Site 0854 seen on 2021-03-14 and 2021-06-14 (the same footprint), site 3548 100 km east on
    2021-03-14, and site 9999 in pixel space only."""

    def __init__(self, session: Session) -> None:
        self.project = make_project(session, "targets")
        self.march = at(session, self.project, "0854", 0, HERE, date(2021, 3, 14))
        self.june = at(session, self.project, "0854", 1, HERE, date(2021, 6, 14))
        self.east = at(session, self.project, "3548", 0, THERE, date(2021, 3, 14))
        self.site = session.scalars(
            select(Site).where(Site.project_id == self.project.id, Site.name == "0854")
        ).one()
        self.content = feature_collection(
            (square(HERE, 100, 100, 50), {"class": "Pit", "seen": "2021-03-14", "year": 2021}),
            (square(HERE, 300, 300, 40), {"class": "Pit", "seen": "2021-06-10", "year": 2021}),
            (square(HERE, 500, 500, 30), {"class": "Pit", "seen": "2020-01-01", "year": 2020}),
            (square(THERE, 10, 10, 50), {"class": "Outline", "seen": "2021-03-14T09:30:00", "year": 2021}),
            (square(HERE, 0, 0, 10), {"class": "Pit", "seen": "2021-03", "year": 2021}),  # a month
        )


@pytest.fixture
def sites(db_session: Session) -> Sites:
    return Sites(db_session)


def sizes(session: Session, observation: Observation) -> list[float]:
    """The areas of the observation's regions, to 0.01 px² (the reprojection leaves last-bit differences)."""
    return [round(r.area_px, 2) for r in regions_on(session, observation)]


def test_a_site_gets_each_feature_on_every_observation_whose_footprint_it_overlaps(
    client: TestClient, db_session: Session, sites: Sites
) -> None:
    response = post_import(client, sites.project, sites.content, site_id=str(sites.site.id))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["annotations_created"], report["regions_created"]) == (2, 8)
    assert report["skipped"] == {"outside_image": 1}  # the feature on 3548 is not on site 0854
    assert report["notes"][0].startswith(
        "4 polygon feature(s) of layer 'upload' placed on 2 observation(s) of site 0854 whose footprint "
        "they overlap"
    )
    assert "0854_000.tif (4), 0854_001.tif (4)" in report["notes"][0]
    assert sizes(db_session, sites.march) == sizes(db_session, sites.june) == [100, 900, 1600, 2500]
    assert sizes(db_session, sites.east) == []

    again = post_import(client, sites.project, sites.content, site_id=str(sites.site.id))
    assert again.status_code == 200, again.text
    assert (again.json()["annotations_created"], again.json()["skipped_as_imported_before"]) == (0, 8)
    assert stored(db_session, sites.project) == (2, 0, 8)


def test_the_project_with_a_date_property_puts_each_feature_on_its_date_only(
    client: TestClient, db_session: Session, sites: Sites
) -> None:
    response = post_import(
        client, sites.project, sites.content, date_property="seen", **{"as": "predictions"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["predictions_created"], report["regions_created"]) == (2, 3)
    assert report["skipped"] == {"no_matching_date": 2}  # 2021-06-10 is 4 days off; 2020-01-01 is no date
    assert (
        "2 feature(s) lie on the project but on no image acquired on their date; skipped (property 'seen', "
        "+/- 0 day(s); acquired on 2021-03-14, 2021-06-14)" in report["notes"]
    )
    assert sizes(db_session, sites.march) == [100, 2500]  # the day and the month of March
    assert sizes(db_session, sites.june) == []
    assert sizes(db_session, sites.east) == [2500]  # an Outline, on 3548's own date

    week = post_import(
        client,
        sites.project,
        sites.content,
        date_property="seen",
        date_tolerance_days=7,
        **{"as": "predictions"},
    )
    assert week.status_code == 200, week.text
    assert week.json()["skipped"] == {"no_matching_date": 1}
    assert sizes(db_session, sites.june) == [1600]  # 2021-06-10 is within a week of 2021-06-14

    years = post_import(
        client, sites.project, sites.content, date_property="year", site_id=str(sites.site.id)
    )
    assert years.status_code == 200, years.text
    assert years.json()["skipped"] == {"no_matching_date": 1, "outside_image": 1}
    annotations = select(Annotation.observation_id).where(Annotation.project_id == sites.project.id)
    assert sorted(db_session.scalars(annotations)) == sorted([sites.march.id, sites.june.id])


def test_class_values_map_through_label_map(
    client: TestClient, db_session: Session, one: tuple[Project, Observation]
) -> None:
    project, observation = one
    content = feature_collection(
        (square(HERE, 100, 100, 50), {"kind": "pit"}),
        (square(HERE, 0, 0, 600), {"kind": "mine area"}),
        (square(HERE, 700, 700, 20), {"kind": "road"}),
        (square(HERE, 800, 800, 20), {"kind": "road"}),
    )
    params: dict[str, Any] = {"observation_id": str(observation.id), "label_property": "kind"}
    problems = problems_of(post_import(client, project, content, **params))
    assert [p["feature"] for p in problems] == [1, 2, 3]
    assert "class 'mine area' (property 'kind') is not one of the project's classes" in problems[0]["message"]
    assert "label_map" in problems[0]["message"]
    assert stored(db_session, project) == (0, 0, 0)
    response = post_import(
        client, project, content, label_map='{"Mine Area": "Outline"}', unknown_classes="skip", **params
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["skipped"] == {"unknown_class": 2}
    assert any(
        "2 feature(s) whose class (property 'kind') is not one of the project's" in n and "'road' (2)" in n
        for n in report["notes"]
    )
    regions = regions_on(db_session, observation)
    assert [r.label for r in regions] == ["Outline", "Pit"]
    assert [round(r.area_px, 2) for r in regions] == [360000, 2500]


def test_targets_and_options_are_checked_naming_the_field(
    client: TestClient, db_session: Session, sites: Sites
) -> None:
    content = sites.content
    both = post_import(
        client, sites.project, content, observation_id=str(sites.march.id), site_id=str(sites.site.id)
    )
    assert both.status_code == 422 and both.json()["field"] == "site_id", both.text
    assert "pass observation_id or site_id, not both" in both.json()["detail"]
    tolerance = post_import(client, sites.project, content, date_tolerance_days=3)
    assert tolerance.status_code == 422 and tolerance.json()["field"] == "date_tolerance_days"
    negative = post_import(client, sites.project, content, date_tolerance_days=-1, date_property="seen")
    assert negative.status_code == 422 and negative.json()["field"] == "date_tolerance_days"
    outside = post_import(client, sites.project, content, outside="nowhere")
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"] == ["query", "outside"]
    (no_such,) = problems_of(post_import(client, sites.project, content, date_property="when"))
    assert "date_property 'when' is not a property of layer 'upload'" in no_such["message"]
    assert "class, seen, year" in no_such["message"]
    other = make_project(db_session, "other")
    (foreign,) = problems_of(post_import(client, other, content, site_id=str(sites.site.id)))
    assert "is not a site of this project" in foreign["message"]
    (empty,) = problems_of(post_import(client, other, content))
    assert "the project has no georeferenced observation" in empty["message"]
    bad_date = feature_collection((square(HERE, 100, 100, 50), {"class": "Pit", "seen": "soon"}))
    (problem,) = problems_of(post_import(client, sites.project, bad_date, date_property="seen"))
    assert (
        problem["feature"] == 0
        and "property 'seen' (date_property) is 'soon', not a date" in problem["message"]
    )
    assert stored(db_session, sites.project) == (0, 0, 0)


# -- the Ashanti mining polygons of the seed data ------------------------------------------------------


@pytest.mark.seed
def test_the_ashanti_polygons_land_on_an_image_that_covers_a_few_and_the_rest_are_counted(
    client: TestClient, db_session: Session, seed_data: Path
) -> None:
    source = seed_data / "georef" / "ghana_ashanti_mining_polygons.geojson"
    _, _, geometries, fields = raw.read(source, datetime_as_string=True)
    polygons = shapely.from_wkb(geometries)
    years = [str(value)[:4] for value in fields[0]]  # "2017-01-01T00:00:00": the year it was mapped
    assert len(polygons) == 407 and set(years) == {"2017", "2020"}
    # A 3 x 3 km image with 10 m pixels in UTM 30N, its top-left corner 1 km north-west of the first
    # polygon's centre: it covers a few polygons, wholly or in part.
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    centre = polygons[0].centroid
    cx, cy = to_utm.transform(centre.x, centre.y)
    left, top = math.floor(cx / 10) * 10 - 1000, math.ceil(cy / 10) * 10 + 1000
    window = shp.box(left, top - 3000, left + 3000, top)
    in_utm = [
        shapely.transform(p, lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1]))) for p in polygons
    ]
    touching = [i for i, p in enumerate(in_utm) if p.intersection(window).area > 0]
    inside = [i for i in touching if window.covers(in_utm[i])]
    assert 0 < len(touching) < 50 and len(inside) < len(touching), (len(touching), len(inside))

    project = make_project(db_session, "ashanti-window")
    transform = [10.0, 0.0, float(left), 0.0, -10.0, float(top)]
    observation = at(
        db_session, project, "ashanti", 0, transform, date(2017, 6, 1), crs="EPSG:32630", size=(300, 300)
    )
    params: dict[str, Any] = {"default_label": "Pit", "as": "predictions", "model_version": "ashanti"}
    response = post_import(client, project, source.read_bytes(), observation_id=str(observation.id), **params)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["items_read"], report["regions_created"]) == (407, len(touching))
    assert report["skipped"] == {"outside_image": 407 - len(touching)}
    assert report["clipped"] == len(touching) - len(inside)
    area_ha = sum(r.area_ha or 0 for r in regions_on(db_session, observation))
    expected_ha = sum(in_utm[i].intersection(window).area for i in touching) / 10_000
    assert area_ha == pytest.approx(expected_ha, rel=0.01)

    # The whole project, found through the footprint in PostGIS, and only the polygons of 2017 (their
    # date is the year's first day; the image is of June 2017).
    of_2017 = [i for i in touching if years[i] == "2017"]
    assert 0 < len(of_2017) < len(touching)
    whole = post_import(
        client,
        project,
        source.read_bytes(),
        default_label="Pit",
        date_property="year",
        date_tolerance_days=200,
    )
    assert whole.status_code == 200, whole.text
    assert (whole.json()["annotations_created"], whole.json()["regions_created"]) == (1, len(of_2017))
    assert whole.json()["skipped"] == {
        "no_matching_date": len(touching) - len(of_2017),
        "outside_image": 407 - len(touching),
    }
