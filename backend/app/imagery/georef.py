"""Georeferencing: sidecar files (dates, centre and ground extent) and footprints in EPSG:4326.

Plain PNG/JPEG images carry no coordinates. A sidecar (CSV or JSON) can give, per file, the acquisition
date and the centre (lat/lon) with the ground extent in metres; MineLabel then builds an affine transform
in the local UTM zone, north up, square-ish pixels.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_geom

from app.core.errors import InvalidInputError

SIDECAR_NAMES = ("sidecar.csv", "sidecar.json", "observations.csv", "observations.json")


class SidecarError(InvalidInputError):
    code = "sidecar_invalid"


@dataclass(frozen=True)
class SidecarEntry:
    filename: str
    site: str | None = None
    index: int | None = None
    acquired_on: date | None = None
    center_lat: float | None = None
    center_lon: float | None = None
    extent_x_m: float | None = None
    extent_y_m: float | None = None

    @property
    def has_location(self) -> bool:
        return self.center_lat is not None and self.center_lon is not None

    @property
    def can_georeference(self) -> bool:
        return self.has_location and self.extent_x_m is not None and self.extent_y_m is not None


def parse_sidecar(content: bytes, name: str) -> dict[str, SidecarEntry]:
    """Entries by file name from a CSV (header row) or JSON (a list of objects) sidecar.

    Columns: ``filename`` (required), ``site``, ``index``, ``acquired`` (YYYY-MM-DD), ``center_lat``,
    ``center_lon``, and ``extent_m`` (square) or ``extent_x_m`` + ``extent_y_m``.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarError(f"{name}: the sidecar is not UTF-8 text.") from exc
    rows: list[dict[str, Any]]
    if name.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SidecarError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise SidecarError(f"{name}: expected a JSON list of objects, one per image.")
        rows = data
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    entries: dict[str, SidecarEntry] = {}
    for number, row in enumerate(rows, start=1):
        entry = _entry(row, f"{name}, entry {number}")
        if entry.filename in entries:
            raise SidecarError(f"{name}, entry {number}: {entry.filename} is listed twice.")
        entries[entry.filename] = entry
    return entries


def _entry(row: dict[str, Any], where: str) -> SidecarEntry:
    def value(key: str) -> str | None:
        raw = row.get(key)
        return None if raw is None or str(raw).strip() == "" else str(raw).strip()

    def number(key: str, low: float, high: float) -> float | None:
        raw = value(key)
        if raw is None:
            return None
        try:
            parsed = float(raw)
        except ValueError as exc:
            raise SidecarError(f"{where}: {key} must be a number, not {raw!r}.") from exc
        if not math.isfinite(parsed) or not low <= parsed <= high:
            raise SidecarError(f"{where}: {key} = {raw} is outside {low} .. {high}.")
        return parsed

    filename = value("filename")
    if filename is None:
        raise SidecarError(f"{where}: 'filename' is missing.")
    acquired = value("acquired")
    try:
        acquired_on = date.fromisoformat(acquired) if acquired else None
    except ValueError as exc:
        raise SidecarError(f"{where}: acquired must be a date like 2021-03-31, not {acquired!r}.") from exc
    index = value("index")
    if index is not None and not index.isdigit():
        raise SidecarError(f"{where}: index must be a whole number >= 0, not {index!r}.")
    lat, lon = number("center_lat", -84, 84), number("center_lon", -180, 180)
    if (lat is None) != (lon is None):
        raise SidecarError(f"{where}: give both center_lat and center_lon, or neither.")
    extent = number("extent_m", 1, 1_000_000)
    extent_x = number("extent_x_m", 1, 1_000_000) or extent
    extent_y = number("extent_y_m", 1, 1_000_000) or extent
    if (extent_x is None) != (extent_y is None):
        raise SidecarError(f"{where}: give extent_m, or both extent_x_m and extent_y_m.")
    if extent_x is not None and lat is None:
        raise SidecarError(f"{where}: an extent needs center_lat and center_lon too.")
    return SidecarEntry(
        filename=filename,
        site=value("site"),
        index=int(index) if index is not None else None,
        acquired_on=acquired_on,
        center_lat=lat,
        center_lon=lon,
        extent_x_m=extent_x,
        extent_y_m=extent_y,
    )


def utm_crs(lat: float, lon: float) -> CRS:
    zone = int((lon + 180) // 6) % 60 + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def local_utm_transform(entry: SidecarEntry, width: int, height: int) -> tuple[str, Affine]:
    """CRS and affine transform (north up) for an image centred on the entry's point."""
    assert entry.can_georeference
    assert entry.center_lat is not None and entry.center_lon is not None
    assert entry.extent_x_m is not None and entry.extent_y_m is not None
    crs = utm_crs(entry.center_lat, entry.center_lon)
    point = transform_geom(
        "EPSG:4326", crs, {"type": "Point", "coordinates": (entry.center_lon, entry.center_lat)}
    )
    x, y = point["coordinates"]
    transform = Affine.translation(x - entry.extent_x_m / 2, y + entry.extent_y_m / 2) @ Affine.scale(
        entry.extent_x_m / width, -entry.extent_y_m / height
    )
    return f"EPSG:{crs.to_epsg()}", transform


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
