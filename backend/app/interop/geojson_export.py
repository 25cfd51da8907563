"""GeoJSON export: one Feature per live region of the selected tasks, in EPSG:4326 (RFC 7946).

Each region's geometry is its ``geom_wgs84`` (a MultiPolygon, exterior rings counter-clockwise as RFC 7946
asks), written by PostGIS as text (ST_AsGeoJSON, 7 decimals: about 1 cm), with the properties a GIS or a
training pipeline needs: class, kind (annotation or prediction), source, task state, site, observation,
acquisition date, annotator, model version and score, the region on the previous date a prediction carries
forward (``carried_from``), area in hectares and the region's id. Tasks that are
not georeferenced have no EPSG:4326 geometry: they are skipped, and the report says how many. The report
closes the FeatureCollection as the foreign member ``minelabel_report`` (notes: tasks skipped, or that no
task matched the selection).

The FeatureCollection is written piece by piece, one task batch at a time, so memory stays constant
whatever the project's size. The GeoPackage export (app.interop.geopackage) reads the same features through
``feature_batches``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Row, text

from app.interop.exports import ExportContext, ExportFormat, ExportReport, register
from app.interop.selection import annotations_of, class_filter_sql, predictions_of, task_batches

PRECISION = 7  # decimals of a degree: about 1 cm

_REGIONS = """
SELECT r.id AS region_id, r.observation_id, r.annotation_id, r.prediction_id, r.label,
       r.source::text AS source, r.score, r.carried_from, r.area_ha, ST_NumGeometries(r.geom_wgs84) AS parts,
       {geometry} AS geometry
  FROM regions r
 WHERE r.observation_id = ANY(:tasks) AND r.deleted_at IS NULL AND r.geom_wgs84 IS NOT NULL
   AND (r.annotation_id = ANY(:annotations) OR r.prediction_id = ANY(:predictions))
   AND {classes}
 ORDER BY array_position(CAST(:tasks AS uuid[]), r.observation_id), r.annotation_id NULLS LAST,
          r.prediction_id, r.created_at, r.id
"""

# The geometry column, as GeoJSON text (this format) or WKB (GeoPackage); RFC 7946 winding for both.
GEOJSON_GEOMETRY = f"ST_AsGeoJSON(ST_ForcePolygonCCW(r.geom_wgs84), {PRECISION})"
WKB_GEOMETRY = "ST_AsBinary(ST_ForcePolygonCCW(r.geom_wgs84))"

# The properties of every feature, in this order (the GeoPackage's fields too).
PROPERTY_NAMES = (
    "class", "kind", "source", "task_state", "site", "observation", "observation_id", "acquired_on",
    "annotator", "model_version", "score", "carried_from", "area_ha", "region_id",
)  # fmt: skip


@dataclass
class Feature:
    properties: dict[str, Any]  # PROPERTY_NAMES; acquired_on a date, ids UUIDs
    geometry: Any  # what the geometry SQL gave: GeoJSON text or WKB bytes


def _is_georeferenced(task: Row[Any]) -> bool:
    return bool(task.crs) and bool(task.transform)


def feature_batches(ctx: ExportContext, report: ExportReport, geometry_sql: str) -> Iterator[list[Feature]]:
    """The selected tasks' regions as features, one list per task batch; fills the report's counts, calls
    ``ctx.progress`` after each batch, and adds a note for the tasks skipped as not georeferenced."""
    session, selection = ctx.session, ctx.selection
    class_sql, class_params = class_filter_sql(selection)
    sql = text(_REGIONS.format(geometry=geometry_sql, classes=class_sql))
    done = 0
    skipped = 0
    for batch in task_batches(session, ctx.project.id, selection):
        tasks = {t.id: t for t in batch.tasks if _is_georeferenced(t)}
        skipped += len(batch.tasks) - len(tasks)
        features: list[Feature] = []
        if tasks:
            ids = list(tasks)
            annotations = {a.id: a for a in annotations_of(session, ids, selection)}
            predictions = {p.id: p for p in predictions_of(session, ids, selection)}
            report.tasks += len(tasks)
            report.annotations += len(annotations)
            report.predictions += len(predictions)
            rows = session.execute(
                sql,
                {"tasks": ids, "annotations": list(annotations), "predictions": list(predictions),
                 **class_params},
            )  # fmt: skip
            for row in rows:
                features.append(_feature(row, tasks[row.observation_id], annotations, predictions))
                report.regions += 1
                report.polygons += row.parts
        yield features
        done += len(batch.tasks)
        ctx.progress(done)
    if skipped:
        report.notes.append(
            f"{skipped} task(s) skipped: they are not georeferenced (no CRS and transform), so their regions "
            "have no EPSG:4326 coordinates."
        )


def _feature(
    row: Row[Any],
    task: Row[Any],
    annotations: dict[uuid.UUID, Row[Any]],
    predictions: dict[uuid.UUID, Row[Any]],
) -> Feature:
    annotation = annotations.get(row.annotation_id) if row.annotation_id else None
    prediction = predictions.get(row.prediction_id) if row.prediction_id else None
    score = None
    if prediction is not None:
        score = row.score if row.score is not None else prediction.score
    properties = {
        "class": row.label,
        "kind": "annotation" if row.annotation_id else "prediction",
        "source": row.source,
        "task_state": task.task_state,
        "site": task.site_name,
        "observation": task.original_filename,
        "observation_id": task.id,
        "acquired_on": task.acquired_on,
        "annotator": annotation.email if annotation is not None else None,
        "model_version": prediction.model_version if prediction is not None else None,
        "score": score,
        "carried_from": row.carried_from,
        "area_ha": row.area_ha,
        "region_id": row.region_id,
    }
    return Feature(properties=properties, geometry=row.geometry)


def write(ctx: ExportContext, report: ExportReport) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    first = True
    for features in feature_batches(ctx, report, GEOJSON_GEOMETRY):
        if not features:
            continue
        parts = [
            b'{"type":"Feature","id":"%s","geometry":%s,"properties":%s}'
            % (str(f.properties["region_id"]).encode(), f.geometry.encode(), orjson.dumps(f.properties))
            for f in features
        ]
        chunk = b",".join(parts)
        yield chunk if first else b"," + chunk
        first = False
    # A foreign member (RFC 7946, 6.1): GIS readers pass over it; it says what the export did and left out.
    yield b'],"minelabel_report":' + orjson.dumps(report.to_dict()) + b"}"


FORMAT = register(
    ExportFormat(
        name="geojson", media_type="application/geo+json", extension="geojson", writer=write,
        description="GeoJSON (RFC 7946): EPSG:4326 polygons with class, state, site, date, annotator, "
        "source and area in hectares; georeferenced tasks only",
    )
)  # fmt: skip
