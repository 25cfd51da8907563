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
observations by index, annotations by creation), so the same selection gives the same file, and a file
imported into a fresh project exports identically (results are ordered by class, then by each polygon's
own position, so a region's parts and the separate regions they become on import sort alike). Lint (app.interop.label_studio_lint) checks what is
written; the polygons' coordinates come from PostGIS as text (ST_AsGeoJSON), so the export never decodes
them in Python, which keeps it above 100,000 polygons/s.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Row, text

from app.interop.exports import ExportContext, ExportFormat, ExportReport, image_reference, register
from app.interop.label_studio_lint import LintError, check_image_reference, check_percent_bounds
from app.interop.selection import annotations_of, class_filter_sql, predictions_of, task_batches

PRECISION = 6  # decimals of a percent: 1e-6 % of a 100,000 px image is 0.001 px

_REGIONS = """
SELECT r.annotation_id, r.prediction_id, r.label, r.score, r.id AS region_id, o.width, o.height,
       ST_NumGeometries(r.geom) AS parts, d.path[1] AS part, ST_NumInteriorRings(d.geom) AS holes,
       CASE WHEN ST_NumInteriorRings(d.geom) > 0
            THEN ST_Area(ST_MakePolygon(ST_ExteriorRing(d.geom))) - ST_Area(d.geom) ELSE 0 END AS hole_area,
       ST_NPoints(ST_ExteriorRing(d.geom)) - 1 AS vertices,
       ST_AsGeoJSON(ST_Scale(ST_RemovePoint(ST_ExteriorRing(d.geom), ST_NPoints(ST_ExteriorRing(d.geom)) - 1),
                             100.0 / o.width, 100.0 / o.height), {precision}) AS ring,
       ST_XMin(d.geom) * 100.0 / o.width AS x0, ST_XMax(d.geom) * 100.0 / o.width AS x1,
       ST_YMin(d.geom) * 100.0 / o.height AS y0, ST_YMax(d.geom) * 100.0 / o.height AS y1
  FROM regions r
  JOIN observations o ON o.id = r.observation_id
 CROSS JOIN LATERAL ST_Dump(r.geom) AS d
 WHERE r.observation_id = ANY(:tasks) AND r.deleted_at IS NULL
   AND (r.annotation_id = ANY(:annotations) OR r.prediction_id = ANY(:predictions))
   AND {classes}
 ORDER BY r.observation_id, r.annotation_id, r.prediction_id, r.label, ST_XMin(d.geom), ST_YMin(d.geom),
          ST_Area(d.geom), r.id, d.path[1]
"""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _time(value: Any) -> str:
    return _json(value.isoformat() if value is not None else None)


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

    def batches(self) -> Iterator[bytes]:
        done = 0
        first = True
        yield b"["
        for batch in task_batches(self.ctx.session, self.ctx.project.id, self.ctx.selection):
            annotations = annotations_of(self.ctx.session, batch.ids, self.ctx.selection)
            predictions = (
                predictions_of(self.ctx.session, batch.ids) if self.ctx.selection.include_predictions else []
            )
            regions = self.ctx.session.execute(
                self.regions_sql,
                {"tasks": batch.ids, "annotations": [a.id for a in annotations],
                 "predictions": [p.id for p in predictions], **self.class_params},
            )  # fmt: skip
            results: dict[uuid.UUID, list[str]] = defaultdict(list)
            for row in regions:
                owner = row.annotation_id or row.prediction_id
                results[owner].append(self.result(row, len(results[owner]) + 1))
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

    def result(self, row: Row[Any], number: int) -> str:
        if row.label not in self.classes:
            raise LintError(f"region {row.region_id}: class {row.label!r} is not in the labeling config")
        check_percent_bounds(row.x0, row.y0, row.x1, row.y1, row.vertices, where=f"region {row.region_id}")
        report = self.report
        report.polygons += 1
        if row.part == 1:
            report.regions += 1
            if row.parts > 1:
                report.multipart_regions_split += 1
        if row.holes:
            report.holes_dropped += row.holes
            report.hole_area_px += row.hole_area
        ring: str = row.ring
        points = ring[ring.index("[[") : ring.rindex("]]") + 2]
        score = (
            f',"score":{_json(row.score)}' if row.prediction_id is not None and row.score is not None else ""
        )
        value = f'{{"points":{points},"closed":true,"polygonlabels":{self.labels[row.label]}}}'
        return (
            f'{{"id":"r{number}",{self.result_head},"original_width":{row.width},'
            f'"original_height":{row.height},"image_rotation":0,"value":{value}{score}}}'
        )

    def task(
        self, task: Row[Any], annotations: list[Row[Any]], predictions: list[Row[Any]],
        results: dict[uuid.UUID, list[str]],
    ) -> str:  # fmt: skip
        ctx, report = self.ctx, self.report
        self.task_id += 1
        report.tasks += 1
        image = image_reference(
            ctx.options.image_url, project_id=ctx.project.id, observation_id=task.id, site=task.site_name,
            filename=task.original_filename, index=task.observation_index,
        )  # fmt: skip
        check_image_reference(image, where=f"task {self.task_id}")
        acquired_on = task.acquired_on.isoformat() if task.acquired_on else None
        meta = {
            "site": task.site_name, "site_external_id": task.site_external_id,
            "index": task.observation_index, "filename": task.original_filename, "acquired_on": acquired_on,
            "width": task.width, "height": task.height, "crs": task.crs, "transform": task.transform,
            "footprint": orjson.loads(task.footprint) if task.footprint else None, "state": task.task_state,
        }  # fmt: skip
        written = []
        for a in annotations:
            self.annotation_id += 1
            report.annotations += 1
            items = results.get(a.id, [])
            completed_by = (
                f',"completed_by":{_json({"email": a.email})}'
                if ctx.options.completed_by == "email" and a.email
                else ""
            )
            written.append(
                f'{{"id":{self.annotation_id},"result":[{",".join(items)}],"was_cancelled":false,'
                f'"ground_truth":false,"created_at":{_time(a.created_at)},"updated_at":{_time(a.updated_at)},'
                f'"lead_time":{_json(a.lead_time)}{completed_by}}}'
            )
        predicted = []
        for p in predictions:
            report.predictions += 1
            items = results.get(p.id, [])
            predicted.append(
                f'{{"model_version":{_json(p.model_version)},"score":{_json(p.score)},"result":[{",".join(items)}],'
                f'"created_at":{_time(p.created_at)}}}'
            )
        return (
            f'{{"id":{self.task_id},"data":{{{self.image_key}:{_json(image)},"minelabel":{_json(meta)}}},'
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
