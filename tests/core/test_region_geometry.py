"""Region geometry checks: each bad input named, repair by PostGIS, clipping, conversion to EPSG:4326."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from affine import Affine
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.labels.geometry import (
    GeometryChangeCode,
    GeometryProblem,
    RegionGeometryError,
    check_region_geometry,
    pixel_to_wgs84,
)
from app.labels.regions import RegionRef
from app.repositories.labels import geodesic_area_ha, postgis_make_valid

SQUARE = {"type": "Polygon", "coordinates": [[[10, 10], [60, 10], [60, 60], [10, 60], [10, 10]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [50, 50], [50, 0], [0, 50], [0, 0]]]}


def check(geojson: Any, **options: Any) -> Any:
    defaults: dict[str, Any] = {"region": "r1", "width": 100, "height": 80, "max_vertices": 1000}
    return check_region_geometry(geojson, **{**defaults, **options})


def test_a_good_polygon_and_a_polygon_with_a_hole_pass() -> None:
    assert check(SQUARE).geometry.area == 2500
    with_hole = {
        "type": "Polygon",
        "coordinates": [SQUARE["coordinates"][0], [[20, 20], [30, 20], [30, 30], [20, 30], [20, 20]]],
    }
    result = check(with_hole)
    assert result.geometry.area == 2400 and result.changes == []
    multi = {
        "type": "MultiPolygon",
        "coordinates": [SQUARE["coordinates"], [[[70, 10], [90, 10], [90, 30], [70, 10]]]],
    }
    assert len(check(multi).geometry.geoms) == 2


P = GeometryProblem


@pytest.mark.parametrize(
    ("geojson", "message", "reason"),
    [
        (
            {"type": "Point", "coordinates": [1, 2]},
            'with "type": "Polygon" or "MultiPolygon"',
            P.NOT_A_POLYGON,
        ),
        ("POLYGON((0 0, 1 0, 1 1, 0 0))", 'with "type": "Polygon" or "MultiPolygon"', P.NOT_A_POLYGON),
        ({"type": "Polygon", "coordinates": []}, "non-empty list of rings", P.MALFORMED_COORDINATES),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, "a"], [1, 1], [0, 0]]]},
            "is not a position [x, y]",
            P.MALFORMED_COORDINATES,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, True], [1, 1], [0, 0]]]},
            "is not a position [x, y]",
            P.MALFORMED_COORDINATES,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [float("nan"), 1], [1, 1], [0, 0]]]},
            "must be finite",
            P.NON_FINITE_COORDINATES,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [float("inf"), 1], [1, 1], [0, 0]]]},
            "must be finite",
            P.NON_FINITE_COORDINATES,
        ),
        (  # all floats: the fast path
            {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, float("nan")], [1.0, 1.0], [0.0, 0.0]]]},
            "must be finite",
            P.NON_FINITE_COORDINATES,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 2.0, 3.0], [1.0, 1.0], [0.0, 0.0]]]},
            "is not a position [x, y]",
            P.MALFORMED_COORDINATES,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10]]]},
            "ring is not closed",
            P.RING_NOT_CLOSED,
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [0, 0], [10, 0], [0, 0]]]},
            "fewer than 3 distinct",
            P.TOO_FEW_VERTICES,
        ),
        (BOWTIE, "is not a valid polygon (Self-intersection", P.INVALID_POLYGON),
        (
            {"type": "Polygon", "coordinates": [[[90, 10], [120, 10], [120, 30], [90, 10]]]},
            "reaches outside the 100 x 80",
            P.OUTSIDE_IMAGE,
        ),
        (
            {"type": "Polygon", "coordinates": [[[-5, 10], [20, 10], [20, 30], [-5, 10]]]},
            "reaches outside",
            P.OUTSIDE_IMAGE,
        ),
    ],
    ids=[
        "point",
        "wkt-string",
        "no-rings",
        "string-coordinate",
        "boolean-coordinate",
        "nan",
        "infinite",
        "nan-in-floats",
        "three-floats",
        "not-closed",
        "two-vertices",
        "self-intersecting",
        "outside-right",
        "outside-left",
    ],
)
def test_bad_geometry_is_refused_with_the_region_named(
    geojson: Any, message: str, reason: GeometryProblem
) -> None:
    region_id = uuid.uuid4()
    with pytest.raises(RegionGeometryError) as error:
        check(geojson, region=RegionRef("r1", region_id, 4))
    assert str(error.value).startswith("Region r1")
    assert message in str(error.value)
    # What the error body carries beside the message, for clients that must not read it.
    assert error.value.extra == {"reason": reason, "region_id": region_id, "region_index": 4}


def test_too_many_vertices() -> None:
    with pytest.raises(RegionGeometryError, match="5 vertices is more than the limit of 4") as error:
        check(SQUARE, max_vertices=4)
    assert error.value.reason is GeometryProblem.TOO_MANY_VERTICES
    assert error.value.extra["region_id"] is None  # a plain name: no id, no position


def test_repair_uses_postgis_and_keeps_polygons(db_session: Session) -> None:
    result = check(BOWTIE, repair=True, make_valid=postgis_make_valid(db_session))
    assert result.geometry.is_valid
    assert len(result.geometry.geoms) == 2  # the bow tie becomes its two triangles
    assert result.geometry.area == pytest.approx(1250)
    (change,) = result.changes
    assert change.code is GeometryChangeCode.REPAIRED
    assert change.message.startswith("repaired (Self-intersection")


def test_clip_cuts_to_the_image() -> None:
    result = check(
        {"type": "Polygon", "coordinates": [[[80, 10], [120, 10], [120, 30], [80, 30], [80, 10]]]}, clip=True
    )
    assert result.geometry.bounds == (80, 10, 100, 30)
    (change,) = result.changes
    assert change.code is GeometryChangeCode.CLIPPED
    assert change.message.startswith("clipped to the image")
    with pytest.raises(RegionGeometryError, match="no area left inside the image") as error:
        check({"type": "Polygon", "coordinates": [[[110, 10], [120, 10], [120, 30], [110, 10]]]}, clip=True)
    assert error.value.reason is GeometryProblem.NO_AREA


def test_pixels_to_wgs84_and_geodesic_area(db_session: Session) -> None:
    # 10 m pixels in UTM 19S, as for the workshop images with a sidecar.
    transform = tuple(Affine(10, 0, 367588.2, 0, -10, 6960504.4))[:6]
    square = check(
        {"type": "Polygon", "coordinates": [[[0, 0], [100, 0], [100, 80], [0, 80], [0, 0]]]}
    ).geometry
    wgs84 = pixel_to_wgs84(square, "EPSG:32719", transform)
    minx, miny, maxx, maxy = wgs84.bounds
    assert -70.35 < minx < maxx < -70.33 and -27.48 < miny < maxy < -27.46
    area = geodesic_area_ha(wgs84)
    assert area == pytest.approx(1000 * 800 / 10_000, rel=0.01)
    # Computed in this process (not by a query per region), it is PostGIS's area on the ellipsoid.
    postgis = db_session.scalar(
        text("SELECT ST_Area(ST_GeomFromWKB(:g, 4326)::geography) / 10000.0"), {"g": wgs84.wkb}
    )
    assert area == pytest.approx(postgis, rel=1e-9)
