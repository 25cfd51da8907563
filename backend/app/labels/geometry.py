"""Checks on a region's GeoJSON geometry, in the image's pixel space (x = column, y = row, origin at the
top-left corner of the image), before anything is stored.

Every problem raises RegionGeometryError with a message that names the region and says how to fix it, and
machine-readable fields for clients: ``reason`` (a GeometryProblem), ``region_id`` and ``region_index``.
``repair`` (self-intersections) is done by PostGIS's ST_MakeValid through the ``make_valid`` callable the
caller passes in, so the rule is the database's own; ``clip`` cuts the polygon to the image.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Real
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely import geometry as shp
from shapely.validation import explain_validity

from app.core.errors import InvalidInputError
from app.labels.regions import RegionRef

MakeValid = Callable[[shp.MultiPolygon], shp.MultiPolygon]


class GeometryProblem(enum.StrEnum):
    """Why a region's geometry was refused (the ``reason`` of a region_geometry_invalid error)."""

    NOT_A_POLYGON = "not_a_polygon"  # not a GeoJSON Polygon or MultiPolygon
    MALFORMED_COORDINATES = "malformed_coordinates"  # rings or positions of the wrong shape
    NON_FINITE_COORDINATES = "non_finite_coordinates"  # NaN or infinite
    TOO_MANY_VERTICES = "too_many_vertices"  # more than LIMITS__MAX_POLYGON_VERTICES
    RING_NOT_CLOSED = "ring_not_closed"
    TOO_FEW_VERTICES = "too_few_vertices"  # fewer than 3 distinct vertices in a ring
    INVALID_POLYGON = "invalid_polygon"  # self-intersections and the like: repair=true fixes it
    OUTSIDE_IMAGE = "outside_image"  # clip=true cuts it to the image
    NO_AREA = "no_area"  # nothing left inside the image


class GeometryChangeCode(enum.StrEnum):
    """What MineLabel did to a region's geometry when asked to (the ``code`` of a change)."""

    REPAIRED = "repaired"  # repair=true: ST_MakeValid
    CLIPPED = "clipped"  # clip=true: cut to the image


class RegionGeometryError(InvalidInputError):
    code = "region_geometry_invalid"

    def __init__(self, message: str, *, reason: GeometryProblem, region: RegionRef) -> None:
        super().__init__(message, reason=reason, **region.error_fields())
        self.reason = reason
        self.region = region


@dataclass(frozen=True)
class GeometryChange:
    code: GeometryChangeCode
    message: str  # for people: what changed, e.g. "clipped to the image: 1 -> 1 polygon(s), area ..."


@dataclass
class CheckedGeometry:
    geometry: shp.MultiPolygon
    changes: list[GeometryChange] = field(default_factory=list)  # what repair or clip changed


def check_region_geometry(
    geojson: Any,
    *,
    region: str | RegionRef,
    width: int,
    height: int,
    max_vertices: int,
    repair: bool = False,
    clip: bool = False,
    make_valid: MakeValid | None = None,
) -> CheckedGeometry:
    """Validate a GeoJSON Polygon or MultiPolygon in pixel space and return it as a MultiPolygon.

    Args:
        region: the region as errors name it (its number and id in the request); a plain string only names
            it in messages.
        width, height: the image size; coordinates must lie in [0, width] x [0, height].
        max_vertices: the most vertices a region may have (LIMITS__MAX_POLYGON_VERTICES).
        repair: fix self-intersections with ``make_valid`` instead of refusing them.
        clip: cut the polygon to the image instead of refusing coordinates outside it.
    """
    ref = region if isinstance(region, RegionRef) else RegionRef(region)
    name = ref.name
    polygons = _parse(geojson, ref)
    vertices = sum(len(ring) for rings in polygons for ring in rings)
    if vertices > max_vertices:
        raise _refuse(
            ref,
            GeometryProblem.TOO_MANY_VERTICES,
            f"Region {name}: {vertices:,} vertices is more than the limit of {max_vertices:,}; simplify it.",
        )
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            where = f"Region {name}, polygon {p + 1}, ring {r + 1}"
            if ring[0] != ring[-1]:
                raise _refuse(
                    ref,
                    GeometryProblem.RING_NOT_CLOSED,
                    f"{where}: the ring is not closed (its last vertex must repeat the first).",
                )
            if len(set(ring[:-1])) < 3:
                raise _refuse(
                    ref,
                    GeometryProblem.TOO_FEW_VERTICES,
                    f"{where}: fewer than 3 distinct vertices; a polygon needs at least 3.",
                )
    geometry = shp.MultiPolygon([shp.Polygon(rings[0], rings[1:]) for rings in polygons])
    result = CheckedGeometry(geometry)
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        if not repair or make_valid is None:
            raise _refuse(
                ref,
                GeometryProblem.INVALID_POLYGON,
                f"Region {name} is not a valid polygon ({reason}); fix it, or send repair=true to let "
                "MineLabel repair it.",
            )
        repaired = make_valid(geometry)
        message = f"repaired ({reason}): {_describe_change(geometry, repaired)}"
        result.changes.append(GeometryChange(GeometryChangeCode.REPAIRED, message))
        result.geometry = repaired
    image = shp.box(0, 0, width, height)
    if not image.covers(result.geometry):
        if not clip:
            minx, miny, maxx, maxy = result.geometry.bounds
            raise _refuse(
                ref,
                GeometryProblem.OUTSIDE_IMAGE,
                f"Region {name} reaches outside the {width} x {height} image (its bounds are "
                f"{minx:g}, {miny:g} to {maxx:g}, {maxy:g}); move it inside, or send clip=true.",
            )
        clipped = _polygons_only(result.geometry.intersection(image))
        message = f"clipped to the image: {_describe_change(result.geometry, clipped)}"
        result.changes.append(GeometryChange(GeometryChangeCode.CLIPPED, message))
        result.geometry = clipped
    if result.geometry.is_empty or result.geometry.area == 0:
        raise _refuse(ref, GeometryProblem.NO_AREA, f"Region {name} has no area left inside the image.")
    return result


def _refuse(region: RegionRef, reason: GeometryProblem, message: str) -> RegionGeometryError:
    return RegionGeometryError(message, reason=reason, region=region)


def count_vertices(geojson: Any) -> int:
    """How many positions a GeoJSON Polygon or MultiPolygon lists, without checking them (a malformed one
    counts what it has; check_region_geometry refuses it later). Cheap, for limits over many regions."""
    if not isinstance(geojson, dict):
        return 0
    coordinates = geojson.get("coordinates")
    polygons = [coordinates] if geojson.get("type") == "Polygon" else coordinates
    if not isinstance(polygons, list | tuple):
        return 0
    return sum(
        len(ring)
        for rings in polygons
        if isinstance(rings, list | tuple)
        for ring in rings
        if isinstance(ring, list | tuple)
    )


def _parse(geojson: Any, region: RegionRef) -> list[list[list[tuple[float, float]]]]:
    """Polygons as lists of rings of (x, y), from a GeoJSON Polygon or MultiPolygon."""
    name = region.name
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise _refuse(
            region,
            GeometryProblem.NOT_A_POLYGON,
            f'Region {name}: the geometry must be a GeoJSON object with "type": "Polygon" or "MultiPolygon".',
        )
    coordinates = geojson.get("coordinates")
    # Lists from JSON; tuples from shapely's mapping() when a stored region is checked again.
    polygons = [coordinates] if geojson["type"] == "Polygon" else coordinates
    malformed = GeometryProblem.MALFORMED_COORDINATES
    if not isinstance(polygons, list | tuple) or not polygons:
        raise _refuse(region, malformed, f"Region {name}: 'coordinates' must be a non-empty list of rings.")
    parsed: list[list[list[tuple[float, float]]]] = []
    for rings in polygons:
        if (
            not isinstance(rings, list | tuple)
            or not rings
            or not all(isinstance(r, list | tuple) for r in rings)
        ):
            raise _refuse(
                region, malformed, f"Region {name}: each polygon must be a non-empty list of rings."
            )
        parsed.append([[_point(position, region) for position in ring] for ring in rings])
    return parsed


def _point(position: Any, region: RegionRef) -> tuple[float, float]:
    # The usual case first ([x, y] of two floats from JSON): the abstract-class checks below cost more than
    # the rest of a region's check together when 2,000 regions of 20 vertices come in.
    if type(position) is list and len(position) == 2:
        x, y = position
        if type(x) is float and type(y) is float and math.isfinite(x) and math.isfinite(y):
            return x, y
    if (
        not isinstance(position, Sequence)
        or isinstance(position, str)
        or len(position) != 2
        or not all(isinstance(v, Real) and not isinstance(v, bool) for v in position)
    ):
        raise _refuse(
            region,
            GeometryProblem.MALFORMED_COORDINATES,
            f"Region {region.name}: {position!r} is not a position [x, y] of two numbers.",
        )
    x, y = float(position[0]), float(position[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _refuse(
            region,
            GeometryProblem.NON_FINITE_COORDINATES,
            f"Region {region.name}: coordinates must be finite numbers, not {position!r}.",
        )
    return x, y


def _polygons_only(geometry: Any) -> shp.MultiPolygon:
    """The polygonal part of a geometry (intersections can leave lines and points behind)."""
    if isinstance(geometry, shp.Polygon):
        return shp.MultiPolygon([geometry])
    if isinstance(geometry, shp.MultiPolygon):
        return geometry
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, shp.Polygon | shp.MultiPolygon)]
    polygons = [p for g in parts for p in (g.geoms if isinstance(g, shp.MultiPolygon) else [g])]
    return shp.MultiPolygon(polygons)


def _describe_change(before: shp.MultiPolygon, after: shp.MultiPolygon) -> str:
    counts = f"{len(before.geoms)} -> {len(after.geoms)} polygon(s)"
    return f"{counts}, area {before.area:.1f} -> {after.area:.1f} px²"


def pixel_to_wgs84(geometry: shp.MultiPolygon, crs: str, transform: Sequence[float]) -> shp.MultiPolygon:
    """The same polygons in EPSG:4326, through the observation's affine transform and CRS."""
    a, b, c, d, e, f = transform[:6]
    to_wgs84 = _to_wgs84(crs)

    def project(xy: np.ndarray) -> np.ndarray:
        # The affine step and the projection in one pass over the vertices (one shapely.transform, not two).
        col, row = xy[:, 0], xy[:, 1]
        return np.column_stack(to_wgs84.transform(a * col + b * row + c, d * col + e * row + f))

    return _polygons_only(shapely.transform(geometry, project))


@lru_cache(maxsize=32)
def _to_wgs84(crs: str) -> Transformer:
    # One PROJ transformer per CRS, all vertices at once: GDAL's transform_geom per region (a new
    # transformation each call) cost milliseconds each, seconds for an accept-all of thousands.
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
