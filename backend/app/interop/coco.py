"""COCO export: instance segmentation as polygons (the "object detection" format of cocodataset.org).

One JSON object: ``info``, ``licenses``, ``categories``, ``images``, ``annotations`` and, last,
``minelabel_report`` (what had to change to fit the format; COCO readers ignore unknown keys).

- ``categories``: every class of the labeling config, ``id`` its 1-based position there (the default
  config gives 1 Pit, 2 Infrastructure, 3 Outline), so ids stay the same whatever the ``label`` filter;
  ``supercategory`` "mine".
- ``images``: one per selected task (also those without regions: they are the negatives of a training
  set), ``id`` 1..N in export order (sites by name, observations by index), ``file_name`` the observation's
  original file name, its ``width`` and ``height``, and ``minelabel_site``, ``minelabel_observation_id`` and
  ``acquired_on``.
- ``annotations``: one per live region of people's annotations (never predictions), by every annotator of
  the task (filter with ``annotator``). ``segmentation`` is a list of polygons, one flat
  ``[x1, y1, x2, y2, ...]`` list per part of the region, in pixels (x = column, y = row, from the image's
  top-left corner), the first vertex not repeated. ``area`` is the region's true area in px² (holes
  subtracted), ``bbox`` ``[x, y, width, height]`` of the whole region, ``iscrowd`` 0, and
  ``minelabel_region_id``, ``minelabel_annotation_id``.

COCO polygons have no holes: only outer rings are written, and the report counts the holes dropped and the
area they covered (``area`` still tells the truth). Use the ``masks`` export where holes matter.

Because images and annotations are two arrays, the writer passes over the selected tasks twice, one batch
at a time: images first, then annotations, so memory stays constant whatever the project's size. Rings come
from PostGIS as GeoJSON text and are flattened as text, never decoded in Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Row, text

from app.interop.exports import ExportContext, ExportFormat, ExportReport, register
from app.interop.selection import annotations_of, class_filter_sql, task_batches

PRECISION = 3  # decimals of a pixel
SUPERCATEGORY = "mine"

_REGIONS = """
SELECT r.id AS region_id, r.annotation_id, r.observation_id, r.label, d.path[1] AS part,
       ST_Area(r.geom) AS area, ST_XMin(r.geom) AS x0, ST_YMin(r.geom) AS y0,
       ST_XMax(r.geom) AS x1, ST_YMax(r.geom) AS y1,
       ST_NumInteriorRings(d.geom) AS holes,
       CASE WHEN ST_NumInteriorRings(d.geom) > 0
            THEN ST_Area(ST_MakePolygon(ST_ExteriorRing(d.geom))) - ST_Area(d.geom) ELSE 0 END AS hole_area,
       ST_AsGeoJSON(ST_RemovePoint(ST_ExteriorRing(d.geom), ST_NPoints(ST_ExteriorRing(d.geom)) - 1),
                    {precision}) AS ring
  FROM regions r
  JOIN annotations a ON a.id = r.annotation_id
 CROSS JOIN LATERAL ST_Dump(r.geom) AS d
 WHERE r.annotation_id = ANY(:annotations) AND r.deleted_at IS NULL AND {classes}
 ORDER BY r.observation_id, a.created_at, a.id, r.label, ST_XMin(r.geom), ST_YMin(r.geom), r.area_px, r.id,
          d.path[1]
"""


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def flat_ring(geojson: str) -> str:
    """``{"type":"LineString","coordinates":[[x1,y1],[x2,y2]]}`` -> ``[x1,y1,x2,y2]``, as text."""
    inner = geojson[geojson.index("[[") + 2 : geojson.rindex("]]")]
    return "[" + inner.replace("],[", ",") + "]"


class _Writer:
    def __init__(self, ctx: ExportContext, report: ExportReport) -> None:
        self.ctx, self.report = ctx, report
        self.category_ids = {name: i for i, name in enumerate(ctx.config.class_names, start=1)}
        class_sql, self.class_params = class_filter_sql(ctx.selection)
        self.regions_sql = text(_REGIONS.format(precision=PRECISION, classes=class_sql))
        self.unknown_classes: set[str] = set()
        self.unknown_regions = 0

    def head(self) -> bytes:
        project = self.ctx.project
        info = {
            "description": f"MineLabel export of project {project.name}", "version": "1.0",
            "contributor": "MineLabel", "url": "", "minelabel_project_id": str(project.id),
        }  # fmt: skip
        categories = [
            {"id": i, "name": name, "supercategory": SUPERCATEGORY} for name, i in self.category_ids.items()
        ]
        return b'{"info":' + _json(info) + b',"licenses":[],"categories":' + _json(categories)

    def images(self) -> Iterator[bytes]:
        yield b',"images":['
        image_id = 0
        separator = b""
        for batch in task_batches(self.ctx.session, self.ctx.project.id, self.ctx.selection):
            parts = []
            for task in batch.tasks:
                image_id += 1
                acquired_on = task.acquired_on.isoformat() if task.acquired_on else None
                image = {
                    "id": image_id, "file_name": task.original_filename, "width": task.width,
                    "height": task.height, "minelabel_site": task.site_name,
                    "minelabel_observation_id": str(task.id), "acquired_on": acquired_on,
                }  # fmt: skip
                parts.append(_json(image))
            yield separator + b",".join(parts)
            separator = b","
        yield b"]"

    def annotations(self) -> Iterator[bytes]:
        yield b',"annotations":['
        ctx, report = self.ctx, self.report
        image_id = 0
        annotation_id = 0
        done = 0
        separator = b""
        for batch in task_batches(ctx.session, ctx.project.id, ctx.selection):
            annotations = annotations_of(ctx.session, batch.ids, ctx.selection)
            rows = ctx.session.execute(
                self.regions_sql, {"annotations": [a.id for a in annotations], **self.class_params}
            )
            by_task: dict[uuid.UUID, list[list[Row[Any]]]] = defaultdict(list)
            for row in rows:
                regions = by_task[row.observation_id]
                if regions and regions[-1][0].region_id == row.region_id:
                    regions[-1].append(row)
                else:
                    regions.append([row])
            report.annotations += len(annotations)
            parts = []
            for task in batch.tasks:
                image_id += 1
                report.tasks += 1
                for region in by_task.get(task.id, []):
                    written = self.annotation(annotation_id + 1, image_id, region)
                    if written is not None:
                        annotation_id += 1
                        parts.append(written)
            if parts:
                yield separator + b",".join(parts)
                separator = b","
            done += len(batch.tasks)
            ctx.progress(done)
        yield b"]"

    def annotation(self, annotation_id: int, image_id: int, parts: list[Row[Any]]) -> bytes | None:
        first = parts[0]
        category_id = self.category_ids.get(first.label)
        if category_id is None:
            self.unknown_regions += 1
            self.unknown_classes.add(first.label)
            return None
        report = self.report
        report.regions += 1
        report.polygons += len(parts)
        for part in parts:
            if part.holes:
                report.holes_dropped += part.holes
                report.hole_area_px += part.hole_area
        segmentation = ",".join(flat_ring(part.ring) for part in parts)
        bbox = [first.x0, first.y0, first.x1 - first.x0, first.y1 - first.y0]
        return (
            b'{"id":%d,"image_id":%d,"category_id":%d,"segmentation":[%s],"area":%s,"bbox":%s,"iscrowd":0,'
            b'"minelabel_region_id":"%s","minelabel_annotation_id":"%s"}'
            % (
                annotation_id, image_id, category_id, segmentation.encode(), _json(first.area), _json(bbox),
                str(first.region_id).encode(), str(first.annotation_id).encode(),
            )
        )  # fmt: skip

    def notes(self) -> None:
        report = self.report
        if report.holes_dropped:
            report.notes.append(
                f"{report.holes_dropped} hole(s) dropped ({report.hole_area_px:,.0f} px): COCO polygons have "
                "no holes, so only outer rings were written (`area` is still the true area, holes "
                "subtracted; the masks export keeps holes)."
            )
        if self.unknown_regions:
            report.notes.append(
                f"{self.unknown_regions} region(s) of classes not in the labeling config "
                f"({', '.join(sorted(self.unknown_classes))}) were left out."
            )

    def tail(self) -> bytes:
        return b',"minelabel_report":' + _json(self.report.to_dict()) + b"}"


def write(ctx: ExportContext, report: ExportReport) -> Iterator[bytes]:
    writer = _Writer(ctx, report)
    yield writer.head()
    yield from writer.images()
    yield from writer.annotations()
    writer.notes()
    yield writer.tail()


FORMAT = register(
    ExportFormat(
        name="coco", media_type="application/json", extension="json", writer=write,
        description="COCO instance segmentation (polygons in pixels; people's annotations, no holes)",
    )
)  # fmt: skip
