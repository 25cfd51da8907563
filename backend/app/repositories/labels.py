"""SQL for labels: geometry repair and measures computed by PostGIS itself."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo
from pyproj import Geod
from shapely import geometry as shp
from shapely import wkb
from shapely.geometry.polygon import orient
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from app.labels.geometry import MakeValid
from app.repositories.ground_truth import task_annotations_sql


def postgis_make_valid(session: Session) -> MakeValid:
    """ST_MakeValid with the 'structure' method, which keeps polygons polygons (holes stay holes),
    then only the polygonal part, as a MultiPolygon."""

    def make_valid(geometry: shp.MultiPolygon) -> shp.MultiPolygon:
        result = session.scalar(
            text(
                "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract("
                "ST_MakeValid(ST_GeomFromWKB(:g), 'method=structure'), 3)))"
            ),
            {"g": geometry.wkb},
        )
        repaired = wkb.loads(bytes(result))
        assert isinstance(repaired, shp.MultiPolygon)
        return repaired

    return make_valid


# Karney's algorithm on the WGS84 ellipsoid, as PostGIS's ST_Area(geography) computes it, but in this process:
# a query per region made saving thousands of regions (an accept-all) cost seconds of round trips.
_WGS84 = Geod(ellps="WGS84")


def geodesic_area_ha(geometry_wgs84: shp.MultiPolygon) -> float:
    """Area on the ellipsoid, in hectares (the same as PostGIS's geography area)."""
    # Oriented (exterior counter-clockwise, holes clockwise), pyproj's signed areas subtract the holes.
    parts = (orient(part, 1.0) for part in geometry_wgs84.geoms)
    return sum(float(_WGS84.geometry_area_perimeter(part)[0]) for part in parts) / 10000.0


def regions_in_viewport(
    session: Session,
    observation_id: uuid.UUID,
    bbox: tuple[float, float, float, float],
    *,
    wgs84: bool,
    simplify: float,
    predictions: bool,
    limit: int,
    author: uuid.UUID | None = None,
) -> list[Row[Any]]:
    """Live regions of the observation intersecting ``bbox`` (pixel or EPSG:4326), as GeoJSON text in the
    same space, simplified by ``simplify`` (same units) when it is above zero; only ``author``'s annotations
    when given. Each row has the region's columns and, for predictions, the prediction's model_version."""
    column = "r.geom_wgs84" if wgs84 else "r.geom"
    srid = 4326 if wgs84 else 0
    owner = (
        "(r.prediction_id IS NOT NULL)"
        if predictions
        else "(r.annotation_id IS NOT NULL AND a.deleted_at IS NULL)"
    )
    if author is not None:
        owner += " AND a.created_by = :author"
    sql = text(
        f"""
        SELECT r.id, r.annotation_id, r.prediction_id, r.label, r.source, r.score, r.version, r.area_px,
               r.area_ha, r.accepted_from, r.carried_from, r.ancestor_id, r.change_score, p.model_version,
               ST_AsGeoJSON(CASE WHEN :tol > 0 THEN ST_SimplifyPreserveTopology({column}, :tol)
                                 ELSE {column} END) AS geometry
          FROM regions r LEFT JOIN annotations a ON a.id = r.annotation_id
                         LEFT JOIN predictions p ON p.id = r.prediction_id
         WHERE r.observation_id = :obs AND r.deleted_at IS NULL AND {owner}
           AND {column} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, {srid})
           AND ST_Intersects({column}, ST_MakeEnvelope(:x0, :y0, :x1, :y1, {srid}))
         ORDER BY r.area_px DESC
         LIMIT :limit
        """  # noqa: S608  (column and srid come from two fixed choices above, never from input)
    )
    x0, y0, x1, y1 = bbox
    params = {"obs": observation_id, "tol": simplify, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "limit": limit,
              "author": author}  # fmt: skip
    return list(session.execute(sql, params).all())


def class_stats(
    session: Session, *, project_id: uuid.UUID, observation_id: uuid.UUID | None
) -> list[Row[Any]]:
    """Per observation and class: count of live human regions and their areas (pixels, hectares), in the
    one annotation that stands for each task (its ground truth once approved), never a sum over several
    people's annotations of the same scene."""
    sql = text(
        f"""
        WITH standing AS ({task_annotations_sql(by_project=True)})
        SELECT r.observation_id, r.label, count(*) AS regions, sum(r.area_px) AS area_px,
               sum(r.area_ha) AS area_ha
          FROM regions r JOIN standing s ON s.annotation_id = r.annotation_id
         WHERE r.project_id = :project AND r.deleted_at IS NULL
           AND (CAST(:obs AS uuid) IS NULL OR r.observation_id = :obs)
         GROUP BY r.observation_id, r.label
         ORDER BY r.observation_id, r.label
        """  # noqa: S608 (fixed SQL)
    )
    return list(session.execute(sql, {"project": project_id, "obs": observation_id}).all())


REGION_COPY_COLUMNS = (
    "id", "project_id", "observation_id", "annotation_id", "prediction_id", "label", "source", "score",
    "geom", "geom_wgs84", "area_px", "area_ha", "version",
)  # fmt: skip


def copy_regions(session: Session, rows: Iterable[Sequence[Any]]) -> int:
    """Insert many regions at once with binary COPY (bulk imports, predictions, benchmarks).

    Each row follows REGION_COPY_COLUMNS; geometries are (E)WKB bytes (``shapely.to_wkb(g)``; with SRID 4326
    for ``geom_wgs84``) and must have been checked already. Returns the number of rows. Revisions are the
    caller's business. Binary COPY spares PostgreSQL the hex decoding: ~30 % faster than text COPY here.
    """
    connection = session.connection().connection.driver_connection
    assert connection is not None
    geometry_oid, source_oid = binary_copy_oids(connection)
    statement = f"COPY regions ({', '.join(REGION_COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    count = 0
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        uuid5 = ["uuid"] * 5
        copy.set_types(
            [*uuid5, "varchar", source_oid, "float8", geometry_oid, geometry_oid, "float8", "float8", "int4"]
        )
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


class _RawBinaryDumper(Dumper):
    """Sends bytes or text as they are, for types whose binary input takes exactly that (geometry takes
    EWKB, an enum its label)."""

    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)


_registered: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


def binary_copy_oids(connection: Any) -> tuple[int, int]:
    """The oids of geometry and region_source, with binary dumpers registered once per connection."""
    if connection not in _registered:
        oids = []
        for name in ("geometry", "region_source"):
            info = TypeInfo.fetch(connection, name)
            assert info is not None
            dumper = type(f"{name.title()}Dumper", (_RawBinaryDumper,), {"oid": info.oid})
            connection.adapters.register_dumper(None, dumper)
            oids.append(info.oid)
        _registered[connection] = (oids[0], oids[1])
    return _registered[connection]


# The regions' EPSG:4326 copies again from their pixels, after the observation's georeferencing changed. As in
# app.repositories.prediction_writer (which explains why): consecutive regions are transformed as one
# collection per chunk of about WGS84_CHUNK_VERTICES vertices, one ST_Transform each, and taken apart again.
WGS84_CHUNK_VERTICES = 2_000_000
_REDERIVE_WGS84 = """
WITH numbered AS (
    SELECT id, geom, row_number() OVER (ORDER BY id) AS n, ST_NPoints(geom) AS points
      FROM regions WHERE observation_id = :observation
), chunked AS (
    SELECT id, n, geom, (sum(points) OVER (ORDER BY n) - points) / :chunk_vertices AS chunk FROM numbered
), collections AS (
    SELECT min(n) AS first,
           ST_Transform(ST_Affine(ST_Collect(geom ORDER BY n), :a, :b, :d, :e, :c, :f),
                        CAST(:crs AS text), 4326) AS geom
      FROM chunked GROUP BY chunk
), wgs84 AS (
    SELECT c.first + (d.path)[1] - 1 AS n, ST_Multi(ST_Collect(d.geom ORDER BY (d.path)[2])) AS geom
      FROM collections c, LATERAL ST_Dump(c.geom) AS d
     GROUP BY c.first, (d.path)[1]
)
UPDATE regions r SET geom_wgs84 = w.geom, area_ha = ST_Area(w.geom::geography) / 10000.0
  FROM chunked k JOIN wgs84 w ON w.n = k.n
 WHERE r.id = k.id
"""


def rederive_wgs84(session: Session, observation_id: uuid.UUID, crs: str, transform: Sequence[float]) -> int:
    """Set ``geom_wgs84`` and ``area_ha`` of every region of the observation (people's and predictions',
    tombstones too) from its pixel geometry through ``transform`` and ``crs``, the values a save through the
    API gives. Pixel geometry, versions and revisions stay as they are. Returns the number of regions."""
    a, b, c, d, e, f = transform[:6]
    coefficients = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}
    params = {
        "observation": observation_id,
        "chunk_vertices": WGS84_CHUNK_VERTICES,
        "crs": crs,
        **coefficients,
    }
    result = session.execute(text(_REDERIVE_WGS84), params)
    return int(getattr(result, "rowcount", 0) or 0)


# A region ``r`` as the JSON of a RegionFeature (presenters.region_feature), built by PostgreSQL: reading
# 10,000 regions as ORM rows and pydantic models took seconds. 15 decimals keep every coordinate a client or
# a repair wrote (pixels are below 100,000). The objects are to_json of rows, which is compact
# (json_build_object puts spaces around every colon: 0.5 MB more with 10,000 regions). The EPSG:4326 copy
# can be left out (null) for a client that draws in pixels.
_FEATURE_JSON = """
    (SELECT to_json(f) FROM (
        SELECT 'Feature' AS type, r.id, ST_AsGeoJSON(r.geom, 15)::json AS geometry,
               (SELECT to_json(p) FROM (
                   SELECT r.label, r.source, r.score, r.version, r.area_px, r.area_ha,
                          r.annotation_id, r.prediction_id, NULL AS model_version, r.accepted_from,
                          r.carried_from, r.change_score, r.ancestor_id,
                          CASE WHEN :wgs84 THEN ST_AsGeoJSON(r.geom_wgs84, 15)::json END AS geometry_wgs84
               ) AS p) AS properties
    ) AS f)
"""

# An annotation's live regions, oldest first, as the JSON array of RegionFeature.
_FEATURES_SQL = text(
    f"""
    SELECT COALESCE(json_agg({_FEATURE_JSON} ORDER BY r.created_at, r.id), '[]')::text
      FROM regions r
     WHERE r.annotation_id = :a AND r.deleted_at IS NULL
    """  # noqa: S608 (fixed fragments, bound values)
)

# An annotation's live regions, oldest first, one RegionFeature's JSON text a row: read through a server-side
# cursor, the first rows come while PostgreSQL still makes the rest. Ordered as narrow rows (ids), each
# region then looked up by its key (sorting the wide rows cost more than the JSON).
_FEATURE_ROWS_SQL = text(
    f"""
    SELECT {_FEATURE_JSON}::text
      FROM (SELECT id FROM regions
             WHERE annotation_id = :a AND deleted_at IS NULL
             ORDER BY created_at, id) AS k
      JOIN LATERAL (SELECT * FROM regions WHERE regions.id = k.id) AS r ON true
    """  # noqa: S608 (fixed fragments, bound values)
)


def annotation_features_json(session: Session, annotation_id: uuid.UUID, *, wgs84: bool = True) -> str:
    """The annotation's live regions, oldest first, as the JSON text of a list of RegionFeature; without
    ``wgs84`` their ``geometry_wgs84`` is null."""
    return str(session.scalar(_FEATURES_SQL, {"a": annotation_id, "wgs84": wgs84}))


def annotation_feature_pages(
    session: Session, annotation_id: uuid.UUID, page_size: int, *, wgs84: bool = True
) -> Iterator[tuple[str, int]]:
    """``annotation_features_json`` in pages of ``page_size`` regions: (the JSON text of the page's list of
    RegionFeature, how many it holds); no region, one empty page. Pages are read as they are sent, all
    through one statement (so one snapshot, even in a READ COMMITTED transaction)."""
    rows = session.execute(
        _FEATURE_ROWS_SQL, {"a": annotation_id, "wgs84": wgs84}, execution_options={"stream_results": True}
    )
    empty = True
    for part in rows.scalars().partitions(page_size):
        empty = False
        yield "[" + ",".join(part) + "]", len(part)
    if empty:
        yield "[]", 0
