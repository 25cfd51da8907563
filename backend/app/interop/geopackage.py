"""GeoPackage export: the GeoJSON export's features in one layer, ``regions`` (EPSG:4326, MultiPolygon).

The fields are the GeoJSON properties (app.interop.geojson_export.PROPERTY_NAMES), with ``acquired_on`` a
date and ``score`` and ``area_ha`` reals (null where unknown). A GeoPackage is an SQLite file, which cannot
be written as a stream: it is built in a temporary file, one task batch appended at a time (so memory stays
constant whatever the project's size), then sent in chunks, and the file is deleted. An export of no task
is an empty layer whose description (``gpkg_contents.description``) says so.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pyogrio import raw

from app.interop.exports import ExportContext, ExportFormat, ExportReport, register
from app.interop.geojson_export import PROPERTY_NAMES, WKB_GEOMETRY, Feature, feature_batches

LAYER = "regions"
CHUNK = 1 << 20
_REALS = {"score", "area_ha"}


def _columns(features: list[Feature]) -> list[np.ndarray[Any, Any]]:
    columns: list[np.ndarray[Any, Any]] = []
    for name in PROPERTY_NAMES:
        values = [f.properties[name] for f in features]
        if name in _REALS:
            columns.append(np.array([np.nan if v is None else float(v) for v in values], dtype="float64"))
        elif name == "acquired_on":
            columns.append(np.array([v if v is not None else "NaT" for v in values], dtype="datetime64[D]"))
        else:
            columns.append(np.array([None if v is None else str(v) for v in values], dtype=object))
    return columns


def write(ctx: ExportContext, report: ExportReport) -> Iterator[bytes]:
    with tempfile.TemporaryDirectory(prefix="minelabel-gpkg-", dir=ctx.scratch) as folder:
        path = Path(folder) / "export.gpkg"
        created = False
        for features in feature_batches(ctx, report, WKB_GEOMETRY):
            if not features and created:
                continue
            geometry = np.array([bytes(f.geometry) for f in features], dtype=object)
            raw.write(
                str(path), geometry, _columns(features), list(PROPERTY_NAMES), layer=LAYER, driver="GPKG",
                geometry_type="MultiPolygon", crs="EPSG:4326", append=created,
            )  # fmt: skip
            created = True
        if not created:  # no task selected: still a GeoPackage, with an empty layer that says why
            raw.write(
                str(path),
                np.array([], dtype=object),
                _columns([]),
                list(PROPERTY_NAMES),
                layer=LAYER,
                driver="GPKG",
                geometry_type="MultiPolygon",
                crs="EPSG:4326",
                layer_options={"DESCRIPTION": " ".join(report.notes)},
            )
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


FORMAT = register(
    ExportFormat(
        name="gpkg", media_type="application/geopackage+sqlite3", extension="gpkg", writer=write,
        description="GeoPackage: layer 'regions', EPSG:4326 MultiPolygons with the GeoJSON export's fields; "
        "georeferenced tasks only",
    )
)  # fmt: skip
