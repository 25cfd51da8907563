"""After the load run: the database held against what the clients were told. Every accepted change must be
stored exactly once (its revision at the version answered, with the geometry sent), nothing else stored, and
no refused change at all."""

from __future__ import annotations

import uuid
from collections import Counter

import orjson
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from bench.load.records import LoadRecords


class CheckResult(BaseModel):
    accepted_changes: int
    refused_changes: int
    annotations: int
    lost: int  # accepted region changes with no revision at their version (or another geometry)
    final_state_mismatches: int  # annotations whose version or live regions differ from the last confirmed
    duplicated: int  # revisions no accepted change accounts for, or stored more than once
    duplicated_versions: int  # one annotation version answered to two accepted changes
    refused_stored: int  # a refused change's region id or marked geometry found in regions or revisions

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.final_state_mismatches
            or self.duplicated
            or self.duplicated_versions
            or self.refused_stored
        )


EXPECTED_TABLE = text(
    "CREATE TEMP TABLE expected (annotation_id uuid, version int, region_id uuid, action text, geom text)"
)
INSERT_EXPECTED = text("INSERT INTO expected VALUES (:annotation_id, :version, :region_id, :action, :geom)")
# An expected change is stored by a revision of the same annotation, version and region: a delete for a
# delete, else a create or update whose `after` geometry equals the one sent.
LOST = text(
    "SELECT count(*) FROM expected e WHERE NOT EXISTS (SELECT 1 FROM revisions r "
    "WHERE r.annotation_id = e.annotation_id AND r.annotation_version = e.version "
    "AND r.region_id = e.region_id AND CASE WHEN e.action = 'delete' THEN r.action = 'delete' "
    "ELSE r.action IN ('create', 'update') "
    "AND ST_Equals(ST_GeomFromGeoJSON((r.after->'geometry')::text), ST_GeomFromGeoJSON(e.geom)) END)"
)
# Version 1 is the annotation's creation when the task was handed out.
UNACCOUNTED = text(
    "SELECT count(*) FROM revisions r WHERE r.annotation_id = ANY(:ids) AND r.annotation_version > 1 "
    "AND NOT EXISTS (SELECT 1 FROM expected e WHERE e.annotation_id = r.annotation_id "
    "AND e.version = r.annotation_version AND e.region_id = r.region_id)"
).bindparams(bindparam("ids", type_=ARRAY(UUID)))
TWICE = text(
    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM revisions "
    "WHERE annotation_id = ANY(:ids) GROUP BY annotation_id, annotation_version, region_id "
    "HAVING count(*) > 1) t"
).bindparams(bindparam("ids", type_=ARRAY(UUID)))
# Refused edits were drawn at half-integer coordinates (records.REFUSED_OFFSET), accepted ones never.
REFUSED_IDS = text(
    "SELECT (SELECT count(*) FROM regions WHERE id = ANY(:refused)) "
    "+ (SELECT count(*) FROM revisions WHERE region_id = ANY(:refused))"
).bindparams(bindparam("refused", type_=ARRAY(UUID)))
MARKED = text(
    "SELECT (SELECT count(*) FROM regions WHERE annotation_id = ANY(:ids) "
    "AND mod((2 * ST_XMin(geom))::numeric, 2) = 1) "
    "+ (SELECT count(*) FROM revisions WHERE annotation_id = ANY(:ids) AND after IS NOT NULL "
    "AND mod((2 * ST_XMin(ST_GeomFromGeoJSON((after->'geometry')::text)))::numeric, 2) = 1)"
).bindparams(bindparam("ids", type_=ARRAY(UUID)))
FINAL = text(
    "SELECT a.id, a.version, coalesce(jsonb_object_agg(r.id::text, r.version) "
    "FILTER (WHERE r.id IS NOT NULL), '{}') FROM annotations a "
    "LEFT JOIN regions r ON r.annotation_id = a.id AND r.deleted_at IS NULL "
    "WHERE a.id = ANY(:ids) GROUP BY a.id, a.version"
).bindparams(bindparam("ids", type_=ARRAY(UUID)))


def final_state_mismatches(conn: Connection, records: LoadRecords) -> int:
    stored = {
        row[0]: (row[1], {uuid.UUID(k): v for k, v in row[2].items()})
        for row in conn.execute(FINAL, {"ids": list(records.known)})
    }
    return sum(
        stored.get(known.annotation_id) != (known.version, known.regions) for known in records.known.values()
    )


def check(engine: Engine, records: LoadRecords) -> CheckResult:
    """Hold the database against ``records``.

    Args:
        engine: the load run's database.
        records: what the locust users were answered.

    Returns:
        the counts; ``ok`` when nothing was lost, duplicated or stored that was refused.
    """
    ids = sorted(
        {c.annotation_id for c in records.accepted}
        | {c.annotation_id for c in records.refused}
        | set(records.known)
    )
    rows = [
        {
            "annotation_id": change.annotation_id,
            "version": change.version,
            "region_id": region.region_id,
            "action": region.action,
            "geom": orjson.dumps(region.geometry).decode() if region.geometry else None,
        }
        for change in records.accepted
        for region in change.regions
    ]
    versions = Counter((c.annotation_id, c.version) for c in records.accepted)
    refused = [i for c in records.refused for i in c.new_region_ids]
    with engine.connect() as conn:
        conn.execute(EXPECTED_TABLE)
        if rows:
            conn.execute(INSERT_EXPECTED, rows)
        result = CheckResult(
            accepted_changes=len(records.accepted),
            refused_changes=len(records.refused),
            annotations=len(ids),
            lost=conn.scalar(LOST) or 0,
            final_state_mismatches=final_state_mismatches(conn, records),
            duplicated=(conn.scalar(UNACCOUNTED, {"ids": ids}) or 0)
            + (conn.scalar(TWICE, {"ids": ids}) or 0),
            duplicated_versions=sum(n - 1 for n in versions.values()),
            refused_stored=(conn.scalar(REFUSED_IDS, {"refused": refused}) or 0)
            + (conn.scalar(MARKED, {"ids": ids}) or 0),
        )
        conn.rollback()
    return result
