"""Label Studio JSON export: the list of tasks that Label Studio's own "JSON" export writes.

Each task carries its image under the labeling config's image variable, its people's annotations and the
models' predictions; each polygon part is a ``polygonlabels`` result with ``points`` in percent (0-100) of
``original_width`` x ``original_height`` (the real image size), not closed (the first vertex is not
repeated), ``closed: true``. Geo metadata goes under ``data.minelabel`` (Label Studio keeps unknown data keys
and ignores them; MineLabel's import reads them back).

What Label Studio polygons cannot hold (docs/label-studio.md):
- holes: only the outer ring is written; the report counts holes dropped and the area they covered;
- several parts: each part of a MultiPolygon becomes a result of its own.

Task, annotation and result ids are ordinals of the export, and the output is ordered (sites by name,
observations by index, annotations by creation; results by class, then by each polygon's own position), so
the same selection gives the same file, and a file imported into a fresh project exports identically (a
region's parts and the separate regions they become on import sort alike).

Lint (app.interop.label_studio_lint) checks what is written. PostgreSQL hands over a batch's polygons as
one row of arrays plus one blob of exterior-ring coordinates; numpy turns them into percent, orjson writes
the arrays, and the next batch is read in a thread meanwhile (app.interop.prefetch): no Python or GEOS
object per polygon.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from app.interop.exports import ExportContext, ExportFormat, ExportReport, image_reference, register
from app.interop.label_studio_lint import EPSILON, LintError, check_image_reference
from app.interop.prefetch import prefetched
from app.interop.selection import TaskBatch, annotations_of, class_filter_sql, predictions_of, task_batches

PRECISION = 6  # decimals of a percent: 1e-6 % of a 100,000 px image is 0.001 px

# A batch's regions as one row of arrays (one element per region) and one blob of their WKB, so that
# neither psycopg nor GEOS builds an object per polygon, and PostGIS is called once per region.
_REGIONS = """
SELECT array_agg(owner) AS owners, array_agg(predicted) AS predicted, array_agg(label) AS labels,
       array_agg(score) AS scores, array_agg(region_id) AS region_ids, array_agg(width) AS widths,
       array_agg(height) AS heights, array_agg(octet_length(wkb)) AS sizes, string_agg(wkb, ''::bytea) AS wkb
  FROM (
    SELECT COALESCE(r.annotation_id, r.prediction_id)::text AS owner,
           r.prediction_id IS NOT NULL AS predicted, r.label, r.score, r.id::text AS region_id,
           o.width, o.height, ST_AsBinary(r.geom, 'NDR') AS wkb
      FROM regions r
      JOIN observations o ON o.id = r.observation_id
     WHERE r.observation_id = ANY(:tasks) AND r.deleted_at IS NULL
       AND (r.annotation_id = ANY(:annotations) OR r.prediction_id = ANY(:predictions))
       AND r.label IS NOT NULL  -- unclassed SAM pre-labels: Label Studio's regions need a label
       AND {classes}
  ) AS found
"""

# Little-endian WKB of a MultiPolygon with one polygon of one ring: 9 bytes of MultiPolygon header (byte
# order, type, number of polygons), 9 of Polygon header (byte order, type, number of rings), the ring's
# number of points, then its x, y pairs. Nearly every region looks like that; the others go through shapely.
_SIMPLE_HEADER = 22


@dataclass
class _Parts:
    """Every polygon part of a batch: exterior-ring coordinates (closed rings, pixels), per-part arrays."""

    coordinates: np.ndarray
    points: np.ndarray  # per part, closing vertex included
    region: np.ndarray  # per part: index of its region
    number: np.ndarray  # per part: 1-based position within its region
    count: np.ndarray  # per part: parts of its region
    holes: int
    hole_area: float


def _parts(wkb: bytes, sizes: list[int]) -> _Parts:
    blob = np.frombuffer(wkb, dtype=np.uint8)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    sizes_array = np.array(sizes, dtype=np.int64)
    # Each region's first 22 bytes (fewer for none: the smallest valid polygon has 4 points), as numbers.
    header = blob[offsets[:, None] + np.arange(_SIMPLE_HEADER)]
    polygons, rings, ring_points = (
        np.ascontiguousarray(header[:, at : at + 4]).view("<u4")[:, 0] for at in (5, 14, 18)
    )
    simple = (
        (polygons == 1) & (rings == 1) & (sizes_array == _SIMPLE_HEADER + 16 * ring_points.astype(np.int64))
    )
    # The simple regions' coordinates: their byte ranges joined (slices of a memoryview copy nothing).
    starts, ends = offsets[simple] + _SIMPLE_HEADER, offsets[simple] + sizes_array[simple]
    view = memoryview(wkb)
    joined = b"".join([view[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)])
    coordinates = np.frombuffer(joined, dtype="<f8").reshape(-1, 2)
    simple_regions = np.flatnonzero(simple)
    points = (ends - starts) // 16
    region, number, count = (
        simple_regions,
        np.ones(len(simple_regions), np.int64),
        np.ones(len(simple_regions), np.int64),
    )
    holes, hole_area = 0, 0.0
    complex_regions = np.flatnonzero(~simple)
    if len(complex_regions):
        geometries = shapely.from_wkb(
            [
                wkb[o : o + n]
                for o, n in zip(
                    offsets[complex_regions].tolist(), sizes_array[complex_regions].tolist(), strict=True
                )
            ]
        )
        parts, of_geometry = shapely.get_parts(geometries, return_index=True)
        rings = shapely.get_exterior_ring(parts)
        ring_coordinates, of_ring = shapely.get_coordinates(rings, return_index=True)
        part_points = np.bincount(of_ring, minlength=len(parts))
        first = np.searchsorted(of_geometry, of_geometry)
        holes = int(shapely.get_num_interior_rings(parts).sum())
        hole_area = float((shapely.area(shapely.polygons(rings)) - shapely.area(parts)).sum())
        coordinates = np.concatenate((coordinates, ring_coordinates))
        points = np.concatenate((points, part_points))
        region = np.concatenate((region, complex_regions[of_geometry]))
        number = np.concatenate((number, np.arange(len(parts)) - first + 1))
        count = np.concatenate((count, np.bincount(of_geometry, minlength=len(geometries))[of_geometry]))
    return _Parts(coordinates, points, region, number, count, holes, hole_area)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class _Batch:
    tasks: TaskBatch
    annotations: list[Row[Any]]
    predictions: list[Row[Any]]
    regions: Row[Any]  # one row of arrays, see _REGIONS


class _Writer:
    def __init__(self, ctx: ExportContext, report: ExportReport) -> None:
        self.ctx, self.report = ctx, report
        config = ctx.config
        self.classes = set(config.class_names)
        head = (
            f'"type":"polygonlabels","from_name":{_json(config.from_name)},"to_name":{_json(config.to_name)}'
        )
        self.result_head = head
        self.labels = {name: _json([name]) for name in config.class_names}
        self.image_key = _json(config.image_variable)
        self.task_id = 0
        self.annotation_id = 0
        class_sql, class_params = class_filter_sql(ctx.selection)
        self.regions_sql = text(_REGIONS.format(precision=PRECISION, classes=class_sql))
        self.class_params = class_params

    def read(self, session: Session) -> Iterator[_Batch]:
        """The database's part: each batch of tasks with its annotations, predictions and region rows."""
        selection = self.ctx.selection
        for batch in task_batches(session, self.ctx.project.id, selection):
            annotations = annotations_of(session, batch.ids, selection)
            predictions = predictions_of(session, batch.ids, selection)
            regions = session.execute(
                self.regions_sql,
                {"tasks": batch.ids, "annotations": [a.id for a in annotations],
                 "predictions": [p.id for p in predictions], **self.class_params},
            ).one()  # fmt: skip
            yield _Batch(batch, annotations, predictions, regions)

    def batches(self) -> Iterator[bytes]:
        done = 0
        first = True
        yield b"["
        for fetched in prefetched(self.ctx.session, self.read):
            batch, annotations, predictions = fetched.tasks, fetched.annotations, fetched.predictions
            results = self.results(fetched.regions)
            by_task_annotations: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
            for a in annotations:
                by_task_annotations[a.observation_id].append(a)
            by_task_predictions: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
            for p in predictions:
                by_task_predictions[p.observation_id].append(p)
            parts = []
            for task in batch.tasks:
                parts.append(
                    self.task(
                        task,
                        by_task_annotations.get(task.id, []),
                        by_task_predictions.get(task.id, []),
                        results,
                    )
                )
            chunk = ",".join(parts)
            if chunk:
                yield (chunk if first else "," + chunk).encode()
                first = False
            done += len(batch.tasks)
            self.ctx.progress(done)
        yield b"]"

    def results(self, found: Row[Any]) -> dict[str, list[str]]:
        """Each owner's (annotation's or prediction's, by id as text) results, one per polygon part, in a
        fixed order."""
        results: dict[str, list[str]] = defaultdict(list)
        if found.owners is None:
            return results
        report = self.report
        labels, owners, region_ids = found.labels, found.owners, found.region_ids
        unknown = set(labels) - self.classes
        if unknown:
            raise LintError(f"classes {sorted(unknown)} are not in the labeling config")
        parts = _parts(found.wkb, found.sizes)
        coordinates, points, region = parts.coordinates, parts.points, parts.region
        ends = np.cumsum(points)
        starts = ends - points
        x, y = coordinates[:, 0], coordinates[:, 1]
        lows, highs = np.minimum.reduceat(coordinates, starts), np.maximum.reduceat(coordinates, starts)
        min_x, min_y, max_x, max_y = lows[:, 0], lows[:, 1], highs[:, 0], highs[:, 1]
        cross = x[:-1] * y[1:] - x[1:] * y[:-1]  # shoelace terms; those across two rings are zeroed
        cross[ends[:-1] - 1] = 0
        areas = np.abs(np.add.reduceat(np.append(cross, 0.0), starts)) / 2  # of the exterior ring
        percent_x = (100.0 / np.array(found.widths, dtype=float))[region]
        percent_y = (100.0 / np.array(found.heights, dtype=float))[region]
        bad = (
            (points - 1 < 3) | (min_x * percent_x < -EPSILON) | (min_y * percent_y < -EPSILON)
            | (max_x * percent_x > 100 + EPSILON) | (max_y * percent_y > 100 + EPSILON)
        )  # fmt: skip
        if bad.any():
            k = int(np.argmax(bad))
            raise LintError(
                f"region {region_ids[region[k]]}: a polygon with {points[k] - 1} vertices, or points outside "
                f"0-100 % of the image ({min_x[k]}, {min_y[k]}, {max_x[k]}, {max_y[k]} px)"
            )
        # Percent of the image size, rounded; each ring's closing vertex is dropped when written.
        scale = np.repeat(np.column_stack((percent_x, percent_y)), points, axis=0)
        coordinates = np.round(coordinates * scale, PRECISION)
        report.polygons += len(points)
        report.regions += len(owners)
        report.multipart_regions_split += int(((parts.number == 1) & (parts.count > 1)).sum())
        report.holes_dropped += parts.holes
        report.hole_area_px += parts.hole_area
        # Class, then each polygon's own position: a region's parts and the separate regions they become on
        # import sort alike, so an export -> import -> export round trip is identical.
        order = np.lexsort(
            (parts.number, np.array(region_ids)[region], areas, min_y, min_x, np.array(labels)[region])
        ).tolist()
        heads = [
            f'{self.result_head},"original_width":{w},"original_height":{h},"image_rotation":0'
            for w, h in zip(found.widths, found.heights, strict=True)
        ]
        tails = [
            self.labels[label] + "}" + (f',"score":{_json(score)}' if predicted and score is not None else "")
            for label, score, predicted in zip(labels, found.scores, found.predicted, strict=True)
        ]
        # All rings written at once: their closing vertices dropped, one orjson call for the batch, cut apart
        # where one ring ends and the next begins ("]],[[" occurs nowhere else).
        keep = np.ones(len(coordinates), dtype=bool)
        keep[ends - 1] = False
        open_rings, open_ends = coordinates[keep], (ends - np.arange(1, len(ends) + 1)).tolist()
        rings = [open_rings[a:b] for a, b in zip([0, *open_ends[:-1]], open_ends, strict=True)]
        texts = orjson.dumps(rings, option=orjson.OPT_SERIALIZE_NUMPY).decode()[3:-3].split("]],[[")
        region_list = region.tolist()
        for k in order:
            r = region_list[k]
            owned = results[owners[r]]
            owned.append(
                f'{{"id":"r{len(owned) + 1}",{heads[r]},"value":{{"points":[[{texts[k]}]],"closed":true,'
                f'"polygonlabels":{tails[r]}}}'
            )
        return results

    def task(
        self, task: Row[Any], annotations: list[Row[Any]], predictions: list[Row[Any]],
        results: dict[str, list[str]],
    ) -> str:  # fmt: skip
        ctx, report = self.ctx, self.report
        self.task_id += 1
        report.tasks += 1
        image = image_reference(
            ctx.options.image_url, project_id=ctx.project.id, observation_id=task.id, site=task.site_name,
            filename=task.original_filename, index=task.observation_index,
        )  # fmt: skip
        check_image_reference(image, where=f"task {self.task_id}")
        meta = _json({
            "site": task.site_name, "site_external_id": task.site_external_id,
            "index": task.observation_index, "filename": task.original_filename,
            "acquired_on": task.acquired_on,
            "width": task.width, "height": task.height, "crs": task.crs, "transform": task.transform,
            "state": task.task_state,
        })  # fmt: skip
        # The footprint is GeoJSON text from PostGIS already: spliced in, not decoded and encoded again.
        meta = f'{meta[:-1]},"footprint":{task.footprint or "null"}}}'

        written = []
        for a in annotations:
            self.annotation_id += 1
            report.annotations += 1
            items = results.get(str(a.id), [])
            completed_by = (
                f',"completed_by":{_json({"email": a.email})}'
                if ctx.options.completed_by == "email" and a.email
                else ""
            )
            written.append(
                f'{{"id":{self.annotation_id},"result":[{",".join(items)}],"was_cancelled":false,'
                f'"ground_truth":{_json(bool(a.is_ground_truth))},"created_at":{_json(a.created_at)},'
                f'"updated_at":{_json(a.updated_at)},'
                f'"lead_time":{_json(a.lead_time)}{completed_by}}}'
            )
        predicted = []
        for p in predictions:
            report.predictions += 1
            items = results.get(str(p.id), [])
            predicted.append(
                f'{{"model_version":{_json(p.model_version)},"score":{_json(p.score)},"result":[{",".join(items)}],'
                f'"created_at":{_json(p.created_at)}}}'
            )
        return (
            f'{{"id":{self.task_id},"data":{{{self.image_key}:{_json(image)},"minelabel":{meta}}},'
            f'"annotations":[{",".join(written)}],"predictions":[{",".join(predicted)}]}}'
        )


def write(ctx: ExportContext, report: ExportReport) -> Iterator[bytes]:
    writer = _Writer(ctx, report)
    yield from writer.batches()
    if report.holes_dropped:
        report.notes.append(
            f"{report.holes_dropped} hole(s) dropped ({report.hole_area_px:,.0f} px): Label Studio polygons "
            "have no holes, so only outer rings were written."
        )
    if report.multipart_regions_split:
        report.notes.append(
            f"{report.multipart_regions_split} region(s) with several parts were written as one polygon "
            "per part."
        )


FORMAT = register(
    ExportFormat(
        name="label-studio", media_type="application/json", extension="json", writer=write,
        description="Label Studio JSON (tasks with annotations and predictions; polygons in percent)",
    )
)  # fmt: skip
