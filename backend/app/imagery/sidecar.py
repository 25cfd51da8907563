"""Sidecar files (CSV or JSON, a row per image): dates, site and index, and where plain images lie.

An image without coordinates is placed by a bounding box (``west``, ``south``, ``east``, ``north``, or one
``bbox`` field "w,s,e,n") in ``crs`` (default EPSG:4326), which its corners then match exactly, or by a
centre (``center_lat``, ``center_lon``) with a ground extent in metres, north up in the local UTM zone.
``crs`` alone is the CRS of a world file that came without a .prj or .aux.xml.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.errors import InvalidInputError
from app.core.input_rules import problem as input_problem
from app.imagery.georef import (
    MAX_EXTENT_M,
    Georeference,
    GeoreferenceError,
    bbox_transform,
    centre_transform,
    check_bbox,
    parse_crs,
)

SIDECAR_NAMES = ("sidecar.csv", "sidecar.json", "observations.csv", "observations.json")
BBOX_FIELDS = ("west", "south", "east", "north")


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
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north in ``crs``
    crs: str | None = None  # normalised (app.imagery.georef.parse_crs); a bbox without it is EPSG:4326

    @property
    def has_location(self) -> bool:
        return self.center_lat is not None and self.center_lon is not None

    @property
    def places_image(self) -> bool:
        """Whether the entry says where the image lies (a bbox, or a centre with an extent)."""
        return self.bbox is not None or (self.has_location and self.extent_x_m is not None)

    def georeference(self, width: int, height: int) -> Georeference | None:
        """The image's CRS and transform from the box or the centre; None when the entry gives neither."""
        if self.bbox is not None:
            return Georeference(self.crs or "EPSG:4326", bbox_transform(self.bbox, width, height))
        if self.center_lat is None or self.center_lon is None:
            return None
        if self.extent_x_m is None or self.extent_y_m is None:
            return None
        return centre_transform(
            self.center_lat, self.center_lon, self.extent_x_m, self.extent_y_m, width, height
        )


def parse_sidecar(content: bytes, name: str) -> dict[str, SidecarEntry]:
    """Entries by file name from a CSV (header row) or JSON (a list of objects) sidecar.

    Columns: ``filename`` (required), ``site``, ``index``, ``acquired`` (YYYY-MM-DD); a ``bbox`` (or
    ``west``, ``south``, ``east``, ``north``) with an optional ``crs``; or ``center_lat``, ``center_lon``
    and ``extent_m`` (square) or ``extent_x_m`` + ``extent_y_m``.

    Raises:
        SidecarError: naming the file, the entry and the field (``field`` in the error body).
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
        except RecursionError as exc:  # Python's parser recurses per level: a hostile depth ends here
            raise SidecarError(f"{name}: nested deeper than a sidecar (a list of objects) can be.") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise SidecarError(f"{name}: expected a JSON list of objects, one per image.")
        rows = data
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    entries: dict[str, SidecarEntry] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{name}, entry {number}"
        if (found := input_problem(row, max_depth=2)) is not None:
            field = found.where.split(".", 1)[0] or None
            raise SidecarError(f"{where}: {found.describe('')}", field=field)
        try:
            entry = _entry(row, where)
        except GeoreferenceError as exc:
            raise SidecarError(f"{where}: {exc}", field=exc.field) from exc
        if entry.filename in entries:
            raise SidecarError(f"{where}: {entry.filename} is listed twice.", field="filename")
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
        parsed = _float(raw, key, where)
        if not low <= parsed <= high:
            raise SidecarError(f"{where}: {key} = {raw} is outside {low} .. {high}.", field=key)
        return parsed

    filename = value("filename")
    if filename is None:
        raise SidecarError(f"{where}: 'filename' is missing.", field="filename")
    acquired = value("acquired")
    try:
        acquired_on = date.fromisoformat(acquired) if acquired else None
    except ValueError as exc:
        raise SidecarError(
            f"{where}: acquired must be a date like 2021-03-31, not {acquired!r}.", field="acquired"
        ) from exc
    index = value("index")
    if index is not None and not index.isdigit():
        raise SidecarError(f"{where}: index must be a whole number >= 0, not {index!r}.", field="index")
    lat, lon = number("center_lat", -84, 84), number("center_lon", -180, 180)
    if (lat is None) != (lon is None):
        raise SidecarError(f"{where}: give both center_lat and center_lon, or neither.", field="center_lat")
    extent = number("extent_m", 1, MAX_EXTENT_M)
    extent_x = number("extent_x_m", 1, MAX_EXTENT_M) or extent
    extent_y = number("extent_y_m", 1, MAX_EXTENT_M) or extent
    if (extent_x is None) != (extent_y is None):
        raise SidecarError(f"{where}: give extent_m, or both extent_x_m and extent_y_m.", field="extent_m")
    if extent_x is not None and lat is None:
        raise SidecarError(f"{where}: an extent needs center_lat and center_lon too.", field="extent_m")
    crs_text = value("crs")
    crs = parse_crs(crs_text) if crs_text is not None else None
    bbox = _bbox(row, value, where)
    if bbox is not None and lat is not None:
        raise SidecarError(
            f"{where}: give either a bbox or a centre (center_lat, center_lon), not both.", field="bbox"
        )
    if crs is not None and lat is not None:
        raise SidecarError(
            f"{where}: crs goes with a bbox or a world file; a centre is always latitude and longitude "
            "with an extent in metres.",
            field="crs",
        )
    if bbox is not None:
        check_bbox(bbox, crs or "EPSG:4326", field="bbox")
    return SidecarEntry(
        filename=filename,
        site=value("site"),
        index=int(index) if index is not None else None,
        acquired_on=acquired_on,
        center_lat=lat,
        center_lon=lon,
        extent_x_m=extent_x,
        extent_y_m=extent_y,
        bbox=bbox,
        crs=crs,
    )


def _bbox(
    row: dict[str, Any], value: Callable[[str], str | None], where: str
) -> tuple[float, float, float, float] | None:
    """The box from one ``bbox`` field ("w,s,e,n" or a JSON list) or from four fields, or None."""
    raw = row.get("bbox")
    sides = [value(side) for side in BBOX_FIELDS]
    if raw is not None and str(raw).strip() != "":
        if any(side is not None for side in sides):
            raise SidecarError(f"{where}: give bbox or west/south/east/north, not both.", field="bbox")
        parts = [str(p).strip() for p in raw] if isinstance(raw, list) else str(raw).split(",")
        if len(parts) != 4:
            raise SidecarError(
                f"{where}: bbox must be four numbers west,south,east,north, not {raw!r}.", field="bbox"
            )
        west, south, east, north = (_float(p, "bbox", where) for p in parts)
        return west, south, east, north
    if all(side is None for side in sides):
        return None
    missing = [name for name, side in zip(BBOX_FIELDS, sides, strict=True) if side is None]
    if missing:
        raise SidecarError(
            f"{where}: a bounding box needs all of west, south, east and north; {', '.join(missing)} "
            "missing.",
            field=missing[0],
        )
    west, south, east, north = (
        _float(side or "", name, where) for name, side in zip(BBOX_FIELDS, sides, strict=True)
    )
    return west, south, east, north


def _float(raw: str, key: str, where: str) -> float:
    try:
        parsed = float(raw)
    except ValueError as exc:
        raise SidecarError(f"{where}: {key} must be a number, not {raw!r}.", field=key) from exc
    if not math.isfinite(parsed):
        raise SidecarError(f"{where}: {key} must be a finite number, not {raw!r}.", field=key)
    return parsed
