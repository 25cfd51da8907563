"""Bulk writer for predictions: a model's (SAM's, the segmentation model's) polygons by the ten thousand.

One call stores one prediction of one model version on one observation: the polygons go to a temporary
staging table by binary COPY, and one INSERT ... SELECT creates the prediction row and every region,
deriving the measures in PostGIS: ``area_px`` (ST_Area in pixel space) and, where the observation is
georeferenced, ``geom_wgs84`` (the affine transform, then ST_Transform from the observation's CRS) and
``area_ha`` (ST_Area on the ellipsoid), the values the per-region ORM path
(``services.annotations.fill_region``) gives the same polygon. The polygons must have been checked already
(valid, inside the image: ``vectorize`` output); only their labels, scores and types are checked here, all
before anything is sent. SQL only: it flushes the session's pending rows first and never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import geometry as shp
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.errors import InvalidInputError
from app.labels.geometry import GeometryProblem, RegionGeometryError
from app.labels.regions import RegionRef, check_label
from app.models.annotation import RegionSource
from app.models.observation import Observation
from app.repositories.labels import binary_copy_oids

MAX_MODEL_VERSION = 200  # predictions.model_version is a varchar(200)


@dataclass(frozen=True)
class PredictedPolygon:
    """One predicted region: a valid polygon in the observation's pixel space (x = column, y = row)."""

    geometry: shp.Polygon | shp.MultiPolygon
    label: str | None  # None: unclassed (a SAM pre-label nothing could class; the annotator picks one)
    score: float | None = None
    source: RegionSource = RegionSource.MODEL
    carried_from: uuid.UUID | None = None  # the region on the site's previous observation it continues
    change_score: float | None = None  # carried forward: 1 - IoU with the previous date's shape


@dataclass(frozen=True)
class WrittenPrediction:
    prediction_id: uuid.UUID
    region_ids: list[uuid.UUID]  # in the order of the polygons


# The staging table lives as long as the transaction; each call empties it first. ``n`` is the polygon's
# 1-based position in the batch, ``chunk`` the collection it is transformed to EPSG:4326 in (see _WGS84).
_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS prediction_staging (
    n int NOT NULL, chunk int NOT NULL, id uuid NOT NULL, label text, source region_source NOT NULL,
    score float8, carried_from uuid, change_score float8, geom geometry NOT NULL
) ON COMMIT DROP;
TRUNCATE prediction_staging
"""
_COLUMNS = "n, chunk, id, label, source, score, carried_from, change_score, geom"
_COPY = f"COPY prediction_staging ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"

_INSERT = """
WITH prediction AS (
    INSERT INTO predictions (id, project_id, observation_id, model_version, score)
    VALUES (:prediction, :project, :observation, :model_version, :score)
    RETURNING id
), staged AS (
    SELECT n, chunk, id, label, source, score, carried_from, change_score, ST_Multi(geom) AS geom
      FROM prediction_staging
), wgs84 AS ({wgs84})
INSERT INTO regions (id, project_id, observation_id, prediction_id, label, source, score, carried_from,
                     change_score, geom, geom_wgs84, area_px, area_ha, version)
SELECT s.id, :project, :observation, (SELECT id FROM prediction), s.label, s.source, s.score,
       s.carried_from, s.change_score, s.geom, w.geom, ST_Area(s.geom),
       ST_Area(w.geom::geography) / 10000.0, 1
  FROM staged s LEFT JOIN wgs84 w ON w.n = s.n
"""

# Georeferenced: the observation's affine transform (a, b, c, d, e, f: x = a*col + b*row + c, y = d*col +
# e*row + f) in ST_Affine's order, then its CRS (an EPSG code or WKT) to EPSG:4326, as
# app.labels.geometry.pixel_to_wgs84 does in Python. PostGIS builds a PROJ transformation for every
# ST_Transform call whose CRS is text (about 25 ms: 10,000 regions one by one took nearly 3 minutes), so
# consecutive polygons are transformed as one collection per chunk, one call each, and taken apart again:
# member i of the collection that starts at polygon ``first`` is polygon first + i - 1. A chunk holds about
# CHUNK_VERTICES vertices (32 MB of coordinates), far below PostgreSQL's 1 GB limit on a value.
CHUNK_VERTICES = 2_000_000
_WGS84 = """
    SELECT c.first + (d.path)[1] - 1 AS n, ST_Multi(ST_Collect(d.geom ORDER BY (d.path)[2])) AS geom
      FROM (SELECT min(n) AS first,
                   ST_Transform(ST_Affine(ST_Collect(geom ORDER BY n), :a, :b, :d, :e, :c, :f),
                                CAST(:crs AS text), 4326) AS geom
              FROM staged GROUP BY chunk) AS c,
           LATERAL ST_Dump(c.geom) AS d
     GROUP BY c.first, (d.path)[1]
"""
# In pixel space only: no EPSG:4326 copy, no hectares.
_NO_WGS84 = "SELECT CAST(NULL AS int) AS n, CAST(NULL AS geometry) AS geom WHERE false"


def write_predictions(
    session: Session,
    observation: Observation,
    model_version: str,
    polygons: Sequence[PredictedPolygon],
    *,
    classes: Collection[str],
    score: float | None = None,
) -> WrittenPrediction:
    """Store ``polygons`` as one new prediction of ``model_version`` on ``observation``.

    Args:
        classes: the project's class names (``parse_labeling_config(...).class_names``); a polygon with
            another label refuses the whole batch (UnknownLabelError) before anything is stored.
        score: the prediction's own score (0-1), beside each polygon's.

    Returns:
        The new prediction's id and the regions' ids, in the order of ``polygons``. A ``human`` source is
        stored as ``model``, as ``services.predictions.create_prediction`` does: a prediction is a machine's.

    Raises:
        UnknownLabelError, RegionGeometryError (not a polygon, empty), InvalidInputError (a score outside
        0-1, a model version that is too long); each names the polygon by its position (``region_index``).
    """
    _check(model_version, score, polygons, classes)
    # Rows the session holds but has not sent yet (the observation itself, say) must exist for the COPY.
    session.flush()
    prediction_id = uuid.uuid4()
    region_ids = [uuid.uuid4() for _ in polygons]
    connection = session.connection().connection.driver_connection
    assert connection is not None
    geometry_oid, source_oid = binary_copy_oids(connection)
    connection.execute(_STAGING)
    if polygons:
        geometries = [p.geometry for p in polygons]
        wkbs = shapely.to_wkb(geometries)
        vertices = shapely.get_num_coordinates(geometries)
        chunks = ((np.cumsum(vertices) - vertices) // CHUNK_VERTICES).tolist()  # where each polygon starts
        with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
            copy.set_types(
                ["int4", "int4", "uuid", "text", source_oid, "float8", "uuid", "float8", geometry_oid]
            )
            rows = zip(region_ids, polygons, wkbs, chunks, strict=True)
            for n, (region_id, p, wkb, chunk) in enumerate(rows, 1):
                source = RegionSource.MODEL if p.source is RegionSource.HUMAN else p.source
                copy.write_row(
                    (n, chunk, region_id, p.label, source.value, p.score, p.carried_from, p.change_score, wkb)
                )
    georeferenced = bool(observation.crs and observation.transform)
    params: dict[str, object] = {
        "prediction": prediction_id, "project": observation.project_id, "observation": observation.id,
        "model_version": model_version, "score": score,
    }  # fmt: skip
    if georeferenced:
        assert observation.transform is not None
        a, b, c, d, e, f = observation.transform[:6]
        params |= {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "crs": observation.crs}
    sql = _INSERT.format(wgs84=_WGS84 if georeferenced else _NO_WGS84)
    session.execute(text(sql), params)
    return WrittenPrediction(prediction_id=prediction_id, region_ids=region_ids)


def _check(
    model_version: str, score: float | None, polygons: Sequence[PredictedPolygon], classes: Collection[str]
) -> None:
    """Everything the database would refuse halfway, refused before anything is sent."""
    if not model_version or len(model_version) > MAX_MODEL_VERSION:
        raise InvalidInputError(f"The model version must have 1 to {MAX_MODEL_VERSION} characters.")
    if score is not None and not 0 <= score <= 1:
        raise InvalidInputError(f"The prediction's score must lie between 0 and 1, not {score}.")
    known = set(classes)
    for index, polygon in enumerate(polygons):
        region = RegionRef(str(index + 1), index=index)
        if polygon.label is not None and polygon.label not in known:
            check_label(polygon.label, region, list(classes))
        if polygon.change_score is not None and not 0 <= polygon.change_score <= 1:
            raise InvalidInputError(
                f"Region {region.name}: the change score must lie between 0 and 1, "
                f"not {polygon.change_score}.",
                **region.error_fields(),
            )
        if polygon.score is not None and not 0 <= polygon.score <= 1:
            raise InvalidInputError(
                f"Region {region.name}: the score must lie between 0 and 1, not {polygon.score}.",
                **region.error_fields(),
            )
        if not isinstance(polygon.geometry, shp.Polygon | shp.MultiPolygon):
            raise RegionGeometryError(
                f"Region {region.name}: a {polygon.geometry.geom_type} is not a polygon.",
                reason=GeometryProblem.NOT_A_POLYGON,
                region=region,
            )
        if polygon.geometry.is_empty:
            raise RegionGeometryError(
                f"Region {region.name} is empty.", reason=GeometryProblem.NO_AREA, region=region
            )
