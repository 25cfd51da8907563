"""Change over time as files: the timeline as CSV, the change polygons as GeoJSON or GeoPackage.

Pure writers of what app.services.change computed; the numbers are the API's, rounded nowhere.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from pyogrio import raw
from shapely import geometry as shp

from app.schemas.change import Change, Timeline

TIMELINE_COLUMNS = (
    "observation_id",
    "index",
    "acquired_on",
    "task_state",
    "counted",
    "series",
    "label",
    "regions",
    "area",
    "unit",
)
CHANGE_LAYER = "change"
CHANGE_FIELDS = ("label", "change", "area", "unit", "before_id", "after_id", "before_date", "after_date")


def timeline_csv(timeline: Timeline) -> str:
    """One row per date, series (labels, or the champion's predictions) and class."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TIMELINE_COLUMNS)
    for entry in timeline.observations:
        for series, areas in (("labels", entry.labels), ("predicted", entry.predicted)):
            for area in areas:
                writer.writerow(
                    [
                        entry.observation_id,
                        entry.index,
                        entry.acquired_on or "",
                        entry.task_state.value,
                        entry.counted,
                        series,
                        area.label,
                        area.regions,
                        repr(area.area),
                        timeline.unit,
                    ]
                )
    return out.getvalue()


def _crs_name(change: Change) -> str | None:
    if change.crs == "EPSG:4326":
        return "EPSG:4326"
    if change.crs == "metric":
        return change.metric_crs  # None for a comparison in pixels
    return None  # the later image's pixels


def _properties(change: Change, label: str, kind: str, area: float) -> dict[str, Any]:
    return {
        "label": label,
        "change": kind,
        "area": area,
        "unit": change.unit,
        "before_id": str(change.before.observation_id),
        "after_id": str(change.after.observation_id),
        "before_date": change.before.acquired_on.isoformat() if change.before.acquired_on else None,
        "after_date": change.after.acquired_on.isoformat() if change.after.acquired_on else None,
    }


def change_geojson(change: Change) -> bytes:
    """A FeatureCollection; outside EPSG:4326 it names its CRS (the old ``crs`` member GDAL reads)."""
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": f.geometry,
                "properties": _properties(change, f.properties.label, f.properties.change, f.properties.area),
            }
            for f in change.features
        ],
    }
    name = _crs_name(change)
    if name is not None and name != "EPSG:4326":
        code = name.split(":")[1]
        collection["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}}
    return json.dumps(collection).encode()


def change_geopackage(change: Change) -> bytes:
    """One layer, ``change``, of MultiPolygons in the change's CRS (none for pixels)."""
    geometry = np.array([shp.shape(f.geometry).wkb for f in change.features], dtype=object)
    rows = [
        _properties(change, f.properties.label, f.properties.change, f.properties.area)
        for f in change.features
    ]
    columns = [
        np.array([row[name] for row in rows], dtype="float64" if name == "area" else object)
        for name in CHANGE_FIELDS
    ]
    with tempfile.TemporaryDirectory(prefix="minelabel-change-") as folder:
        path = Path(folder) / "change.gpkg"
        raw.write(
            str(path),
            geometry,
            columns,
            list(CHANGE_FIELDS),
            layer=CHANGE_LAYER,
            driver="GPKG",
            geometry_type="MultiPolygon",
            crs=_crs_name(change),
        )
        return path.read_bytes()
