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

Lint (app.interop.label_studio_lint) checks what is written. Geometry comes from PostGIS as WKB and is
converted a batch at a time with shapely and numpy; orjson writes the coordinate arrays. That keeps the
export above 100,000 polygons/s.
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

# The regions of a batch of tasks, as WKB; their geometry work happens vectorized in shapely/numpy.
_REGIONS = """
SELECT COALESCE(r.annotation_id, r.prediction_id)::text AS owner, r.prediction_id IS NOT NULL AS predicted,
       r.label, r.score, r.id::text AS region_id, o.width, o.height, ST_AsBinary(r.geom) AS wkb
  FROM regions r JOIN observations o ON o.id = r.observation_id
 WHERE r.observation_id = ANY(:tasks) AND r.deleted_at IS NULL
   AND (r.annotation_id = ANY(:annotations) OR r.prediction_id = ANY(:predictions))
   AND {classes}
"""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class _Batch:
    tasks: TaskBatch
    annotations: list[Row[Any]]
    predictions: list[Row[Any]]
    regions: list[Row[Any]]


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
            predictions = predictions_of(session, batch.ids) if selection.include_predictions else []
            regions = session.execute(
                self.regions_sql,
                {"tasks": batch.ids, "annotations": [a.id for a in annotations],
                 "predictions": [p.id for p in predictions], **self.class_params},
            ).all()  # fmt: skip
            yield _Batch(batch, annotations, predictions, list(regions))

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

    def results(self, rows: list[Row[Any]]) -> dict[str, list[str]]:
        """Each owner's (annotation's or prediction's, by id as text) results, one per polygon part, in a
        fixed order."""
        results: dict[str, list[str]] = defaultdict(list)
        if not rows:
            return results
        report = self.report
        unknown = {row.label for row in rows} - self.classes
        if unknown:
            raise LintError(f"classes {sorted(unknown)} are not in the labeling config")
        # Every region is a MultiPolygon: as ragged arrays, all coordinates with offsets per ring, rings per
        # polygon (part) and parts per region; everything below is vectorized over a batch.
        _, coordinates, (ring_offsets, part_rings, region_parts) = shapely.to_ragged_array(
            shapely.from_wkb([row.wkb for row in rows])
        )
        parts = len(part_rings) - 1
        of_row = np.repeat(np.arange(len(rows)), np.diff(region_parts))  # part -> its region (row)
        exterior = part_rings[:-1]  # part -> its exterior ring
        starts, ends = ring_offsets[exterior], ring_offsets[exterior + 1]
        x, y = coordinates[:, 0], coordinates[:, 1]
        ring_starts = ring_offsets[:-1]
        min_x, max_x = (
            np.minimum.reduceat(x, ring_starts)[exterior],
            np.maximum.reduceat(x, ring_starts)[exterior],
        )
        min_y, max_y = (
            np.minimum.reduceat(y, ring_starts)[exterior],
            np.maximum.reduceat(y, ring_starts)[exterior],
        )
        cross = x[:-1] * y[1:] - x[1:] * y[:-1]  # shoelace terms; those across two rings are zeroed
        cross[ring_offsets[1:-1] - 1] = 0
        ring_areas = np.abs(np.add.reduceat(np.append(cross, 0.0), ring_starts)) / 2
        exterior_areas = ring_areas[exterior]
        holes = np.diff(part_rings) - 1
        if holes.any():
            report.holes_dropped += int(holes.sum())
            report.hole_area_px += float(ring_areas.sum() - exterior_areas.sum())
        # Percent of the image size, rounded; each ring's closing vertex is dropped when written.
        percent_x = 100.0 / np.array([row.width for row in rows], dtype=float)
        percent_y = 100.0 / np.array([row.height for row in rows], dtype=float)
        of_ring = np.repeat(of_row, np.diff(part_rings))
        of_coordinate = np.repeat(of_ring, np.diff(ring_offsets))
        coordinates = np.round(
            coordinates * np.column_stack((percent_x, percent_y))[of_coordinate], PRECISION
        )
        px, py = percent_x[of_row], percent_y[of_row]
        counts = ends - starts
        bad = (
            (counts - 1 < 3) | (min_x * px < -EPSILON) | (min_y * py < -EPSILON)
            | (max_x * px > 100 + EPSILON) | (max_y * py > 100 + EPSILON)
        )  # fmt: skip
        if bad.any():
            k = int(np.argmax(bad))
            raise LintError(
                f"region {rows[of_row[k]].region_id}: a polygon with {counts[k] - 1} vertices, or points "
                f"outside 0-100 % of the image ({min_x[k]}, {min_y[k]}, {max_x[k]}, {max_y[k]} px)"
            )
        part_numbers = np.arange(parts) - region_parts[:-1][of_row]  # 0-based, within its region
        report.polygons += parts
        report.regions += len(rows)
        report.multipart_regions_split += int((np.diff(region_parts) > 1).sum())
        # Class, then each polygon's own position: a region's parts and the separate regions they become on
        # import sort alike, so an export -> import -> export round trip is identical.
        labels = np.array([row.label for row in rows])
        region_ids = np.array([row.region_id for row in rows])
        order = np.lexsort(
            (part_numbers, region_ids[of_row], exterior_areas, min_y, min_x, labels[of_row])
        ).tolist()
        heads = [
            f'{self.result_head},"original_width":{row.width},"original_height":{row.height},"image_rotation":0'
            for row in rows
        ]
        tails = [
            self.labels[row.label]
            + "}"
            + (f',"score":{_json(row.score)}' if row.predicted and row.score is not None else "")
            for row in rows
        ]
        owners = [row.owner for row in rows]
        of_row_list, starts_list, ends_list = of_row.tolist(), starts.tolist(), ends.tolist()
        dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
        for k in order:
            r = of_row_list[k]
            owned = results[owners[r]]
            points = dumps(coordinates[starts_list[k] : ends_list[k] - 1], option=option).decode()
            owned.append(
                f'{{"id":"r{len(owned) + 1}",{heads[r]},"value":{{"points":{points},"closed":true,'
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
                f'"ground_truth":false,"created_at":{_json(a.created_at)},"updated_at":{_json(a.updated_at)},'
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
