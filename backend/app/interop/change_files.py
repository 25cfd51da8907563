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

from app.schemas.change import Change, ChangeOverview, Timeline

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
OVERVIEW_COLUMNS = (
    "rank",
    "site_id",
    "site_name",
    "label",
    "dates",
    "before_id",
    "before_date",
    "before_area",
    "after_id",
    "after_date",
    "after_area",
    "change",
    "growth_pct",
    "unit",
)
CHANGE_LAYER = "change"
CHANGE_FIELDS = ("label", "change", "area", "unit", "before_id", "after_id", "before_date", "after_date")


def overview_csv(overview: ChangeOverview) -> str:
    """One row per site, in the overview's rank order; empty cells where a site has fewer than two dates."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OVERVIEW_COLUMNS)
    for rank, site in enumerate(overview.sites, start=1):
        before, after = site.before, site.after
        writer.writerow(
            [
                rank,
                site.site_id,
                site.site_name,
                overview.label or "",
                site.dates,
                before.observation_id if before else "",
                (before.acquired_on or "") if before else "",
                repr(before.area) if before else "",
                after.observation_id if after else "",
                (after.acquired_on or "") if after else "",
                repr(after.area) if after else "",
                "" if site.change is None else repr(site.change),
                "" if site.growth_pct is None else repr(site.growth_pct),
                overview.unit,
            ]
        )
    return out.getvalue()


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
