"""Checks on a region's GeoJSON geometry, in the image's pixel space (x = column, y = row, origin at the
top-left corner of the image), before anything is stored.

Every problem raises RegionGeometryError with a message that names the region and says how to fix it.
``repair`` (self-intersections) is done by PostGIS's ST_MakeValid through the ``make_valid`` callable the
caller passes in, so the rule is the database's own; ``clip`` cuts the polygon to the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

from rasterio.warp import transform_geom
from shapely import geometry as shp
from shapely.affinity import affine_transform
from shapely.validation import explain_validity

from app.core.errors import InvalidInputError

MakeValid = Callable[[shp.MultiPolygon], shp.MultiPolygon]


class RegionGeometryError(InvalidInputError):
    code = "region_geometry_invalid"


@dataclass
class CheckedGeometry:
    geometry: shp.MultiPolygon
    changes: list[str] = field(default_factory=list)  # what repair or clip changed, for the response


def check_region_geometry(
    geojson: Any,
    *,
    region: str,
    width: int,
    height: int,
    max_vertices: int,
    repair: bool = False,
    clip: bool = False,
    make_valid: MakeValid | None = None,
) -> CheckedGeometry:
    """Validate a GeoJSON Polygon or MultiPolygon in pixel space and return it as a MultiPolygon.

    Args:
        region: how to name the region in messages (e.g. its id or its index in the request).
        width, height: the image size; coordinates must lie in [0, width] x [0, height].
        max_vertices: the most vertices a region may have (LIMITS__MAX_POLYGON_VERTICES).
        repair: fix self-intersections with ``make_valid`` instead of refusing them.
        clip: cut the polygon to the image instead of refusing coordinates outside it.
    """
    polygons = _parse(geojson, region)
    vertices = sum(len(ring) for rings in polygons for ring in rings)
    if vertices > max_vertices:
        raise RegionGeometryError(
            f"Region {region}: {vertices:,} vertices is more than the limit of {max_vertices:,}; simplify it."
        )
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            where = f"Region {region}, polygon {p + 1}, ring {r + 1}"
            if ring[0] != ring[-1]:
                raise RegionGeometryError(
                    f"{where}: the ring is not closed (its last vertex must repeat the first)."
                )
            if len(set(ring[:-1])) < 3:
                raise RegionGeometryError(
                    f"{where}: fewer than 3 distinct vertices; a polygon needs at least 3."
                )
    geometry = shp.MultiPolygon([shp.Polygon(rings[0], rings[1:]) for rings in polygons])
    result = CheckedGeometry(geometry)
    if not geometry.is_valid:
        reason = explain_validity(geometry)
        if not repair or make_valid is None:
            raise RegionGeometryError(
                f"Region {region} is not a valid polygon ({reason}); fix it, or send repair=true to let "
                "MineLabel repair it."
            )
        repaired = make_valid(geometry)
        result.changes.append(f"repaired ({reason}): {_describe_change(geometry, repaired)}")
        result.geometry = repaired
    image = shp.box(0, 0, width, height)
    if not image.covers(result.geometry):
        if not clip:
            minx, miny, maxx, maxy = result.geometry.bounds
            raise RegionGeometryError(
                f"Region {region} reaches outside the {width} x {height} image (its bounds are "
                f"{minx:g}, {miny:g} to {maxx:g}, {maxy:g}); move it inside, or send clip=true."
            )
        clipped = _polygons_only(result.geometry.intersection(image))
        result.changes.append(f"clipped to the image: {_describe_change(result.geometry, clipped)}")
        result.geometry = clipped
    if result.geometry.is_empty or result.geometry.area == 0:
        raise RegionGeometryError(f"Region {region} has no area left inside the image.")
    return result


def _parse(geojson: Any, region: str) -> list[list[list[tuple[float, float]]]]:
    """Polygons as lists of rings of (x, y), from a GeoJSON Polygon or MultiPolygon."""
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise RegionGeometryError(
            f"Region {region}: the geometry must be a GeoJSON object with "
            '"type": "Polygon" or "MultiPolygon".'
        )
    coordinates = geojson.get("coordinates")
    # Lists from JSON; tuples from shapely's mapping() when a stored region is checked again.
    polygons = [coordinates] if geojson["type"] == "Polygon" else coordinates
    if not isinstance(polygons, list | tuple) or not polygons:
        raise RegionGeometryError(f"Region {region}: 'coordinates' must be a non-empty list of rings.")
    parsed: list[list[list[tuple[float, float]]]] = []
    for rings in polygons:
        if (
            not isinstance(rings, list | tuple)
            or not rings
            or not all(isinstance(r, list | tuple) for r in rings)
        ):
            raise RegionGeometryError(f"Region {region}: each polygon must be a non-empty list of rings.")
        parsed.append([[_point(position, region) for position in ring] for ring in rings])
    return parsed


def _point(position: Any, region: str) -> tuple[float, float]:
    if (
        not isinstance(position, Sequence)
        or isinstance(position, str)
        or len(position) != 2
        or not all(isinstance(v, Real) and not isinstance(v, bool) for v in position)
    ):
        raise RegionGeometryError(f"Region {region}: {position!r} is not a position [x, y] of two numbers.")
    x, y = float(position[0]), float(position[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise RegionGeometryError(f"Region {region}: coordinates must be finite numbers, not {position!r}.")
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
    in_crs = affine_transform(geometry, [a, b, d, e, c, f])
    wgs84 = shp.shape(transform_geom(crs, "EPSG:4326", shp.mapping(in_crs)))
    return _polygons_only(wgs84)
