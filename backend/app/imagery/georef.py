"""Georeferencing of images without coordinates of their own: CRSs, transforms from boxes, centres and world
files, and footprints in EPSG:4326.

Every way of placing an image ends as a CRS (``EPSG:nnnn``, else WKT) and an affine transform from pixel
corners to that CRS (rasterio's order: x = a*col + b*row + c, y = d*col + e*row + f). A bounding box keeps its
own CRS, EPSG:4326 included, so that the image's corners land exactly on the box
(docs/adr/2026-12-01-exact-georeferencing-in-the-given-crs.md). Problems raise GeoreferenceError naming the
field, for the sidecar parser and the API to put into their own messages.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

from affine import Affine
from pyproj import CRS
from pyproj.exceptions import CRSError
from rasterio.warp import transform_geom

from app.core.errors import InvalidInputError

# A world file's six numbers, in the order of its lines.
WORLD_FILE_FIELDS = ("x_pixel_size", "y_rotation", "x_rotation", "y_pixel_size", "x_center", "y_center")
MAX_EXTENT_M = 1_000_000.0


class GeoreferenceError(InvalidInputError):
    """A georeferencing that cannot be used; ``field`` names the input at fault."""

    code = "georeference_invalid"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)
        self.field = field


@dataclass(frozen=True)
class Georeference:
    crs: str  # "EPSG:nnnn", else WKT
    transform: Affine  # pixel corners -> crs

    def as_list(self) -> list[float]:
        return list(tuple(self.transform)[:6])


def parse_crs(text: str, field: str = "crs") -> str:
    """A 2-D geographic or projected CRS as ``EPSG:nnnn`` when it is exactly that code, else as WKT.

    Anything PROJ reads is accepted: EPSG codes, WKT (ESRI's flavour too, as in .prj files), PROJ strings.
    """
    try:
        crs = CRS.from_user_input(text.strip())
    except CRSError as exc:
        raise GeoreferenceError(
            f"{field} {_short(text)!r} is not a CRS that PROJ knows (give an EPSG code such as EPSG:32719, "
            "WKT or a PROJ string).",
            field=field,
        ) from exc
    if not (crs.is_geographic or crs.is_projected) or len(crs.axis_info) != 2:
        raise GeoreferenceError(
            f"{field} {_short(text)!r} is a {crs.type_name}; an image needs a 2-D geographic or "
            "projected CRS.",
            field=field,
        )
    epsg = crs.to_epsg(min_confidence=100)
    return f"EPSG:{epsg}" if epsg else str(crs.to_wkt())


def same_crs(a: str, b: str) -> bool:
    """Whether two CRSs (as parse_crs gives them) are the same, whatever their spelling."""
    return a == b or bool(CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True))


def is_geographic(crs: str) -> bool:
    return bool(CRS.from_user_input(crs).is_geographic)


def check_bbox(bbox: tuple[float, float, float, float], crs: str, field: str = "bbox") -> None:
    """West below east, south below north, finite numbers, and latitudes within ±90 in a geographic CRS."""
    west, south, east, north = bbox
    if not all(math.isfinite(v) for v in bbox):
        raise GeoreferenceError(f"{field}: every coordinate must be a finite number.", field=field)
    if not west < east:
        raise GeoreferenceError(f"{field}: west ({west:g}) must be less than east ({east:g}).", field=field)
    if not south < north:
        raise GeoreferenceError(
            f"{field}: south ({south:g}) must be less than north ({north:g}).", field=field
        )
    if is_geographic(crs):
        for name, value in (("south", south), ("north", north)):
            if not -90 <= value <= 90:
                raise GeoreferenceError(
                    f"{field}: {name} = {value:g} is not a latitude (-90 .. 90); in {crs_name(crs)} the box "
                    "is west, south, east, north in degrees.",
                    field=field,
                )
        for name, value in (("west", west), ("east", east)):
            if not -180 <= value <= 180:
                raise GeoreferenceError(
                    f"{field}: {name} = {value:g} is not a longitude (-180 .. 180).", field=field
                )


def bbox_transform(bbox: tuple[float, float, float, float], width: int, height: int) -> Affine:
    """North up: pixel corner (0, 0) on (west, north), (width, height) on (east, south)."""
    west, south, east, north = bbox
    return Affine.translation(west, north) @ Affine.scale((east - west) / width, -(north - south) / height)


def utm_crs(lat: float, lon: float) -> str:
    zone = int((lon + 180) // 6) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def centre_transform(
    lat: float, lon: float, extent_x_m: float, extent_y_m: float, width: int, height: int
) -> Georeference:
    """North up in the local UTM zone, centred on (lat, lon), ``extent_x_m`` x ``extent_y_m`` on the
    ground."""
    crs = utm_crs(lat, lon)
    point = transform_geom("EPSG:4326", crs, {"type": "Point", "coordinates": (lon, lat)})
    x, y = point["coordinates"]
    transform = Affine.translation(x - extent_x_m / 2, y + extent_y_m / 2) @ Affine.scale(
        extent_x_m / width, -extent_y_m / height
    )
    return Georeference(crs, transform)


def world_file_transform(values: tuple[float, ...], field: str = "world_file") -> Affine:
    """The affine transform of a world file's six numbers (A, D, B, E, C, F, one per line).

    A world file places the *centre* of the top-left pixel at (C, F); rasterio's transforms start at its
    corner, half a pixel (along both pixel axes, so rotation included) up and to the left.
    """
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise GeoreferenceError(
            f"{field}: a world file has six finite numbers ({', '.join(WORLD_FILE_FIELDS)}), one per line.",
            field=field,
        )
    a, d, b, e, c, f = values
    if a * e - b * d == 0:
        raise GeoreferenceError(
            f"{field}: the pixel sizes and rotations ({a:g}, {d:g}, {b:g}, {e:g}) collapse the image to a "
            "line; check the first four numbers.",
            field=field,
        )
    return Affine(a, b, c - 0.5 * a - 0.5 * b, d, e, f - 0.5 * d - 0.5 * e)


def check_transform(values: tuple[float, ...], field: str = "transform") -> Affine:
    """rasterio's six numbers (a, b, c, d, e, f) as an affine transform that does not collapse the image."""
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise GeoreferenceError(f"{field}: give six finite numbers a, b, c, d, e, f.", field=field)
    transform = Affine(*values)
    if transform.determinant == 0:
        raise GeoreferenceError(f"{field}: the transform collapses the image to a line.", field=field)
    return transform


def footprint_wgs84(crs: str, transform: Affine, width: int, height: int) -> dict[str, Any]:
    """The image outline as a GeoJSON polygon in EPSG:4326 (edges densified, so it stays true)."""
    steps = 16
    ring: list[tuple[float, float]] = []
    edges = [
        ((0, 0), (width, 0)),
        ((width, 0), (width, height)),
        ((width, height), (0, height)),
        ((0, height), (0, 0)),
    ]
    for (c0, r0), (c1, r1) in edges:
        for i in range(steps):
            t = i / steps
            ring.append(transform @ (c0 + (c1 - c0) * t, r0 + (r1 - r0) * t))
    ring.append(ring[0])
    geometry: dict[str, Any] = transform_geom(crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    return geometry


def checked_footprint(georeference: Georeference, width: int, height: int, field: str) -> dict[str, Any]:
    """The footprint, refusing a placement that PROJ cannot take to EPSG:4326 and back (off the CRS's
    area: its corners would be clamped to a pole, or have no coordinates at all)."""
    crs, transform = georeference.crs, georeference.transform
    problem = (
        f"{field}: the image lands outside the area where {crs_name(crs)} is defined (its corners have no "
        "latitude and longitude there); check the coordinates and the CRS."
    )
    try:
        footprint = footprint_wgs84(crs, transform, width, height)
        ring = footprint["coordinates"][0]
        corners = [ring[i] for i in (0, 16, 32, 48)]  # footprint_wgs84 puts 16 points on each edge
        back = transform_geom("EPSG:4326", crs, {"type": "MultiPoint", "coordinates": corners})
    except ValueError as exc:  # rasterio's transform errors derive from it
        raise GeoreferenceError(problem, field=field) from exc
    # A thousandth of a pixel: millimetres in UTM, about 1e-8 degrees for 10 m pixels in EPSG:4326.
    tolerance = 1e-3 * max(math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
    expected = [transform * p for p in ((0, 0), (width, 0), (width, height), (0, height))]
    for (x, y), (ex, ey) in zip(back["coordinates"], expected, strict=True):
        if not (math.isfinite(x) and math.isfinite(y)) or math.hypot(x - ex, y - ey) > tolerance:
            raise GeoreferenceError(problem, field=field)
    return footprint


def crs_name(crs: str) -> str:
    """A CRS as people read it: its EPSG code, else its name."""
    if crs.startswith("EPSG:"):
        return crs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return str(CRS.from_user_input(crs).name)
        except CRSError:
            return _short(crs)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 80 else flat[:77] + "..."
