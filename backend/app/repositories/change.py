"""SQL for change over time: areas per class per date, and the per-class difference of two dates in PostGIS
(docs/adr/2026-12-02-change-between-dates-in-the-sites-utm-zone.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from affine import Affine
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.repositories.ground_truth import task_annotations_sql

# A region through its own image's transform (rasterio's a..f in observations.transform, 1-based here) and
# CRS into the site's UTM zone.
_ON_GROUND = (
    "ST_Transform(ST_Affine(r.geom, o.transform[1], o.transform[2], o.transform[4], o.transform[5], "
    "o.transform[3], o.transform[6]), o.crs, CAST(:srid AS integer))"
)
# Every overlay runs on a grid (1 mm, or 1/1000 px): the same ground drawn in two pixel grids compares as
# equal instead of leaving slivers of floating-point noise, and fixed-precision overlay (GEOS OverlayNG)
# cannot fail on the near-coincident edges that thousands of reprojected polygons bring (floating-point
# ST_Union raised TopologyException: side location conflict). Parts are made valid first, as reprojection
# may fold a thin one.
_GRID = {"utm": 0.001, "pixel": 0.001}
_AREA = {
    "utm": "ST_Area(ST_Transform({g}, 4326)::geography) / 10000.0",
    "pixel": "ST_Area({g})",
}
_CHANGE = """
WITH parts AS (
    SELECT r.label, r.observation_id = :after AS is_after,
           ST_CollectionExtract(ST_ReducePrecision(ST_MakeValid({shape}), :grid), 3) AS g
      FROM regions r JOIN observations o ON o.id = r.observation_id
     WHERE r.annotation_id = ANY(:annotations) AND r.deleted_at IS NULL AND r.label IS NOT NULL
), unions AS (
    SELECT label, is_after, ST_Union(g, :grid) AS g FROM parts GROUP BY label, is_after
), pairs AS (
    SELECT l.label,
           COALESCE(b.g, ST_SetSRID('POLYGON EMPTY'::geometry, {srid})) AS before,
           COALESCE(a.g, ST_SetSRID('POLYGON EMPTY'::geometry, {srid})) AS after
      FROM (SELECT DISTINCT label FROM unions) l
      LEFT JOIN unions b ON b.label = l.label AND NOT b.is_after
      LEFT JOIN unions a ON a.label = l.label AND a.is_after
), diffs AS (
    SELECT label, before, after,
           ST_Multi(ST_CollectionExtract(ST_Difference(after, before, :grid), 3)) AS gained,
           ST_Multi(ST_CollectionExtract(ST_Difference(before, after, :grid), 3)) AS lost,
           ST_CollectionExtract(ST_Intersection(before, after, :grid), 3) AS unchanged
      FROM pairs
)
SELECT label, {area_before} AS before, {area_after} AS after, {area_gained} AS gained,
       {area_lost} AS lost, {area_unchanged} AS unchanged,
       CASE WHEN ST_IsEmpty(gained) THEN NULL ELSE ST_AsGeoJSON({out_gained}) END AS gained_geojson,
       CASE WHEN ST_IsEmpty(lost) THEN NULL ELSE ST_AsGeoJSON({out_lost}) END AS lost_geojson
  FROM diffs ORDER BY label
"""


@dataclass(frozen=True)
class ClassChangeRow:
    label: str
    before: float
    after: float
    gained: float
    lost: float
    unchanged: float
    gained_geojson: str | None
    lost_geojson: str | None


@dataclass(frozen=True)
class Output:
    """Where the change polygons go: ``metric`` (as compared), ``wgs84``, or the pixels of the later image
    (``pixel``, which needs that image's CRS and transform when the comparison is on the ground)."""

    kind: Literal["metric", "wgs84", "pixel"]
    crs: str | None = None
    transform: Sequence[float] | None = None


def _output(column: str, space: Literal["utm", "pixel"], output: Output) -> str:
    if output.kind == "metric" or (output.kind == "pixel" and space == "pixel"):
        return column
    if output.kind == "wgs84":
        return f"ST_Transform({column}, 4326)"
    assert output.crs is not None and output.transform is not None
    inverse = ~Affine(*output.transform[:6])
    coefficients = ", ".join(
        repr(float(v)) for v in (inverse.a, inverse.b, inverse.d, inverse.e, inverse.c, inverse.f)
    )
    return f"ST_Affine(ST_Transform({column}, CAST(:out_crs AS text)), {coefficients})"


def class_change(
    session: Session,
    *,
    after_observation: uuid.UUID,
    annotations: Sequence[uuid.UUID],
    space: Literal["utm", "pixel"],
    srid: int | None,
    output: Output,
) -> list[ClassChangeRow]:
    """Per class: the areas of the union on each date, of what was gained, lost and unchanged, and the
    gained and lost polygons as GeoJSON (null when empty).

    Args:
        after_observation: the later date; regions of the other annotation are the earlier date's.
        annotations: the standing annotations of both dates (one, or none, where a date has none).
        space: ``utm`` (both images georeferenced; ``srid`` is the site's UTM zone) or ``pixel``.
    """
    if not annotations:
        return []
    srid_sql = str(int(srid)) if space == "utm" and srid is not None else "0"
    area = _AREA[space]
    sql = _CHANGE.format(
        shape=_ON_GROUND if space == "utm" else "r.geom",
        srid=srid_sql,
        area_before=area.format(g="before"),
        area_after=area.format(g="after"),
        area_gained=area.format(g="gained"),
        area_lost=area.format(g="lost"),
        area_unchanged=area.format(g="unchanged"),
        out_gained=_output("gained", space, output),
        out_lost=_output("lost", space, output),
    )
    params = {
        "after": after_observation,
        "annotations": list(annotations),
        "srid": srid,
        "grid": _GRID[space],
        "out_crs": output.crs,
    }
    rows = session.execute(text(sql), params)
    return [
        ClassChangeRow(
            row.label,
            float(row.before),
            float(row.after),
            float(row.gained),
            float(row.lost),
            float(row.unchanged),
            row.gained_geojson,
            row.lost_geojson,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class AreaRow:
    observation_id: uuid.UUID
    label: str
    regions: int
    area_px: float
    area_ha: float | None


def annotation_areas(session: Session, annotations: Sequence[uuid.UUID]) -> list[AreaRow]:
    """Per annotation's observation and class: live regions and the sums of their stored areas."""
    if not annotations:
        return []
    rows = session.execute(
        text(
            """SELECT observation_id, label, count(*) AS regions, sum(area_px) AS area_px,
                      sum(area_ha) AS area_ha
                 FROM regions
                WHERE annotation_id = ANY(:annotations) AND deleted_at IS NULL AND label IS NOT NULL
                GROUP BY observation_id, label"""
        ),
        {"annotations": list(annotations)},
    )
    return [AreaRow(r.observation_id, r.label, int(r.regions), float(r.area_px), r.area_ha) for r in rows]


def prediction_areas(
    session: Session, observation_ids: Sequence[uuid.UUID], model_version: str
) -> list[AreaRow]:
    """Per observation and class, the areas of the newest prediction of ``model_version`` on each one."""
    if not observation_ids:
        return []
    rows = session.execute(
        text(
            """WITH newest AS (
                   SELECT DISTINCT ON (observation_id) id, observation_id FROM predictions
                    WHERE observation_id = ANY(:observations) AND model_version = :version
                    ORDER BY observation_id, created_at DESC, id DESC)
               SELECT r.observation_id, r.label, count(*) AS regions, sum(r.area_px) AS area_px,
                      sum(r.area_ha) AS area_ha
                 FROM regions r JOIN newest n ON n.id = r.prediction_id
                WHERE r.deleted_at IS NULL AND r.label IS NOT NULL
                GROUP BY r.observation_id, r.label"""
        ),
        {"observations": list(observation_ids), "version": model_version},
    )
    return [AreaRow(r.observation_id, r.label, int(r.regions), float(r.area_px), r.area_ha) for r in rows]


def site_utm_srid(session: Session, site_id: uuid.UUID) -> int | None:
    """The EPSG code of the UTM zone of the centroid of the site's footprints (None: no footprint)."""
    row = session.execute(
        text(
            """SELECT ST_X(c) AS lon, ST_Y(c) AS lat
                 FROM (SELECT ST_Centroid(ST_Collect(footprint)) AS c FROM observations
                        WHERE site_id = :site AND footprint IS NOT NULL) s WHERE c IS NOT NULL"""
        ),
        {"site": site_id},
    ).one_or_none()
    if row is None:
        return None
    zone = int((row.lon + 180) // 6) % 60 + 1
    return (32600 if row.lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class LineageRow:
    region_id: uuid.UUID
    observation_id: uuid.UUID
    label: str
    area_px: float
    area_ha: float | None


# Back through each region's one ancestor, forward through every region that names one of the lineage's as
# its ancestor; UNION (not UNION ALL) stops at a region seen before, so even a cycle made by hand ends.
_LINEAGE = """
WITH RECURSIVE up(id, ancestor_id) AS (
    SELECT id, ancestor_id FROM regions WHERE id = :region
    UNION
    SELECT r.id, r.ancestor_id FROM regions r JOIN up ON r.id = up.ancestor_id
), down(id) AS (
    SELECT CAST(:region AS uuid)
    UNION
    SELECT r.id FROM regions r JOIN down ON r.ancestor_id = down.id
)
SELECT r.id, r.observation_id, r.label, r.area_px, r.area_ha
  FROM regions r
 WHERE r.id IN (SELECT id FROM up UNION SELECT id FROM down)
   AND r.annotation_id = ANY(:annotations) AND r.deleted_at IS NULL AND r.label IS NOT NULL
"""


def lineage(session: Session, region_id: uuid.UUID, annotations: Sequence[uuid.UUID]) -> list[LineageRow]:
    """The region's ancestors and descendants (and itself) that are live regions of ``annotations``.

    The walk itself goes through every region, so a date that does not count (or a deleted region) does
    not cut the lineage; only what is shown is limited to the standing annotations of dates that count.
    """
    if not annotations:
        return []
    rows = session.execute(text(_LINEAGE), {"region": region_id, "annotations": list(annotations)})
    return [LineageRow(r.id, r.observation_id, r.label, float(r.area_px), r.area_ha) for r in rows]


@dataclass(frozen=True)
class OverviewRow:
    site_id: uuid.UUID
    site_name: str
    observation_id: uuid.UUID | None  # None: a site with no date that counts
    acquired_on: date | None
    index: int
    georeferenced: bool
    original_filename: str
    area_px: float
    area_ha: float | None


# Every site with each of its dates that count (the standing annotation's stored areas summed, 0 where it
# has none of the class), in time order; one query for the whole project, no unions.
_OVERVIEW = """
WITH standing AS ({standing}),
counted AS (
    SELECT o.id, o.site_id, o.acquired_on, o.index, o.original_filename, s.annotation_id,
           (o.georef_source <> 'none' AND o.crs IS NOT NULL AND o.transform IS NOT NULL) AS georeferenced
      FROM observations o LEFT JOIN standing s ON s.observation_id = o.id
     WHERE o.project_id = :project AND o.status = 'ready'
       AND (o.task_state = 'approved' OR (:all_tasks AND s.annotation_id IS NOT NULL))
       AND (CAST(:date_from AS date) IS NULL OR o.acquired_on >= CAST(:date_from AS date))
       AND (CAST(:date_to AS date) IS NULL OR o.acquired_on <= CAST(:date_to AS date))
), areas AS (
    SELECT r.annotation_id, sum(r.area_px) AS area_px, sum(r.area_ha) AS area_ha
      FROM regions r
     WHERE r.annotation_id IN (SELECT annotation_id FROM counted WHERE annotation_id IS NOT NULL)
       AND r.deleted_at IS NULL AND r.label IS NOT NULL
       AND (CAST(:label AS text) IS NULL OR r.label = CAST(:label AS text))
     GROUP BY r.annotation_id
)
SELECT si.id AS site_id, si.name AS site_name, c.id AS observation_id, c.acquired_on,
       COALESCE(c.index, 0) AS position, COALESCE(c.georeferenced, false) AS georeferenced,
       COALESCE(c.original_filename, '') AS original_filename,
       COALESCE(a.area_px, 0) AS area_px, COALESCE(a.area_ha, 0) AS area_ha
  FROM sites si
  LEFT JOIN counted c ON c.site_id = si.id
  LEFT JOIN areas a ON a.annotation_id = c.annotation_id
 WHERE si.project_id = :project
 ORDER BY si.name, si.id, c.acquired_on ASC NULLS LAST, c.index, c.id
"""


def overview_rows(
    session: Session,
    project_id: uuid.UUID,
    *,
    all_tasks: bool,
    label: str | None,
    date_from: date | None,
    date_to: date | None,
) -> list[OverviewRow]:
    """Per site of the project, each date that counts with the area of ``label`` (None: all classes)."""
    sql = _OVERVIEW.format(standing=task_annotations_sql(by_project=True))
    params = {
        "project": project_id,
        "all_tasks": all_tasks,
        "label": label,
        "date_from": date_from,
        "date_to": date_to,
    }
    return [
        OverviewRow(
            r.site_id,
            r.site_name,
            r.observation_id,
            r.acquired_on,
            int(r.position),
            bool(r.georeferenced),
            r.original_filename,
            float(r.area_px),
            None if r.area_ha is None else float(r.area_ha),
        )
        for r in session.execute(text(sql), params)
    ]
