"""Class masks: a zip of single-band PNGs, one per selected observation, with optional training chips.

What the archive holds (README.txt inside says the same to whoever opens it):

- ``masks/<site>/<original stem>.png``: uint8, the image's size, 0 background and otherwise the class's
  1-based position in the labeling config (the default config gives 1 Pit, 2 Infrastructure, 3 Outline).
  A pixel belongs to a region when its centre lies inside it (GDAL's rasterization rule); holes stay holes.
  Every selected task gets a mask, also one without regions (all 0: a negative example).
- Overlaps: classes are painted in reverse config order, so where regions overlap the class that comes
  first in the config wins (Pit over Infrastructure over Outline).
- Several annotators on one task: the mask is made from one annotation only, the task's ground truth (the
  annotation the reviewer approved; for a task not approved yet, the most recently updated one), so that
  masks never mix two people's readings of a scene (app.repositories.ground_truth). The ``annotator``
  filter applies first. Predictions are never painted.
- With ``chip_size`` S, in addition to the whole masks: ``chips/<site>/<stem>_r<row>_c<col>.png``, the mask
  cut on a regular S x S grid from the top-left corner; chips of the last row and column reach beyond the
  image and are padded with 0 (background), so every chip is S x S and chip (r, c) starts at pixel
  (x, y) = (c * S, r * S). With ``chip_images`` (the default) also ``images/<site>/<stem>_r<row>_c<col>.png``:
  the image as the map tiles show it (the project's display preset and the site's display ranges, read at
  full resolution from the observation's COG, no resampling), 8-bit with an alpha band that is 0 where the
  chip is padding or the image has no data, so image and mask chips line up pixel for pixel. Observations
  without a COG get no image chips (the report says which).
- ``classes.json`` (value -> class name), ``manifest.csv`` (every image file of the archive with its site,
  observation id, file name, acquisition date, annotation used and chip position), and ``report.json``
  (what the export did) at the end.

Masks and the chip grid come from ``app.ml.rasterize`` and ``app.ml.chips`` (edge policy ``pad``), which
training and prediction share, so an exported chip is cut and painted as the workers cut and paint theirs.

The zip is written into a small buffer that is handed on and emptied after every file, so memory stays
within one image's mask (plus one row of chips) whatever the project's size; manifest rows wait in a
temporary file until the end. Entries carry a fixed date, so the same selection gives the same archive.
"""

from __future__ import annotations

import csv
import dataclasses
import re
import tempfile
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np
import orjson
import shapely
from rasterio.io import MemoryFile
from rio_tiler.io import ImageReader
from sqlalchemy import Row, text

from app.imagery.render import RenderSpec, TileFormat, encode
from app.interop.exports import ExportContext, ExportFormat, ExportReport, register
from app.interop.selection import annotations_of, class_filter_sql, task_batches
from app.ml.chips import Chip, ChipGrid, cut
from app.ml.rasterize import LabeledShape, class_index_mask, class_values
from app.models.observation import Observation
from app.models.project import Site
from app.services.imagery_processing import default_render_spec

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MANIFEST_MEMORY = 4 << 20  # manifest rows beyond this go to a temporary file
MANIFEST_FIELDS = [
    "file", "kind", "site", "observation_id", "original_filename", "acquired_on", "annotation_id",
    "chip_row", "chip_col", "x_offset", "y_offset", "width", "height",
]  # fmt: skip
NAMED_IN_NOTES = 10

_REGIONS = """
SELECT r.observation_id, r.label, ST_AsBinary(r.geom) AS wkb, ST_NumGeometries(r.geom) AS parts
  FROM regions r
 WHERE r.annotation_id = ANY(:annotations) AND r.deleted_at IS NULL AND {classes}
 ORDER BY r.observation_id, r.id
"""

README = """MineLabel class masks of project {project}

masks/<site>/<image stem>.png
    Single-band 8-bit PNG, the size of the image. Pixel values:
{values}
    A pixel belongs to a region when its centre lies inside the region; holes stay background.

Overlaps: classes are painted in reverse order of the labeling config, so where regions of several
classes overlap, the class listed first wins ({precedence}).

Several annotators on one image: the mask is made from one annotation, the image's ground truth (the
annotation its reviewer approved; for an image not approved yet, the most recently updated one). Model
predictions are never painted.

{chips}classes.json     value -> class name
manifest.csv     every image file of this archive: site, observation id, file name, acquisition date,
                 the annotation used, and for chips their row, column and pixel offset
report.json      what the export did (tasks, regions, notes)
"""

CHIPS_README = """Chips ({size} x {size} px), in addition to the whole masks:
chips/<site>/<image stem>_r<row>_c<col>.png
    The mask cut on a regular grid from the top-left corner: chip (row, col) starts at pixel
    x = col * {size}, y = row * {size}. Chips of the last row and column reach beyond the image and are
    padded with 0 (background), so every chip is {size} x {size}.
{images}
"""

IMAGES_README = """images/<site>/<image stem>_r<row>_c<col>.png
    The matching image chip as the map shows it (display preset and display ranges applied), 8-bit,
    with an alpha band: 0 where the chip is padding or the image has no data. Same grid and names
    as the mask chips, so image and mask line up pixel for pixel.
"""


@dataclass(frozen=True)
class _ImageSource:
    path: str  # the COG, as rasterio opens it
    spec: RenderSpec  # how the tiles render it


class ZipSink:
    """A write-only file for zipfile (which then writes a streamable zip): keeps bytes until taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def safe_name(name: str) -> str:
    """A file or folder name that is safe in any zip reader and file system."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".") or "_"


def stem_of(filename: str) -> str:
    base = re.split(r"[\\/]", filename)[-1]
    return base.rsplit(".", 1)[0] if "." in base.strip(".") else base


def png(mask: np.ndarray) -> bytes:
    """A single-band uint8 PNG (rasterio's PNG driver)."""
    height, width = mask.shape
    with MemoryFile() as memory:
        with memory.open(driver="PNG", width=width, height=height, count=1, dtype="uint8") as dst:
            dst.write(mask, 1)
        data: bytes = memory.read()
    return data


class _Writer:
    def __init__(self, ctx: ExportContext, report: ExportReport) -> None:
        self.ctx, self.report = ctx, report
        self.classes = ctx.config.class_names
        self.values = class_values(self.classes)
        class_sql, self.class_params = class_filter_sql(ctx.selection)
        self.regions_sql = text(_REGIONS.format(classes=class_sql))
        self.sink = ZipSink()
        self.zip = zipfile.ZipFile(self.sink, "w", allowZip64=True)
        # Closed by close() or, when the export stops early, by write().
        self.manifest = tempfile.SpooledTemporaryFile(max_size=MANIFEST_MEMORY, mode="w+", newline="")  # noqa: SIM115
        self.rows = csv.DictWriter(self.manifest, fieldnames=MANIFEST_FIELDS)
        self.rows.writeheader()
        self.used_names: set[tuple[str, str]] = set()
        self.without_cog: list[str] = []
        # Masks never mix annotations: whatever the export's choice, one per task (its ground truth).
        self.one_per_task = dataclasses.replace(ctx.selection, annotations="ground_truth")
        self.unknown_classes: set[str] = set()
        self.unknown_regions = 0

    def add(self, name: str, data: bytes, *, compress: bool) -> None:
        info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, data)

    def take(self) -> bytes:
        return self.sink.take()

    def readme(self) -> str:
        names = self.ctx.config.class_names
        values = "\n".join(f"        {i:>3}  {name}" for i, name in [(0, "background"), *self.values.items()])
        chips = ""
        size = self.ctx.options.chip_size
        if size is not None:
            images = IMAGES_README if self.ctx.options.chip_images else ""
            chips = CHIPS_README.format(size=size, images=images)
        return README.format(
            project=self.ctx.project.name, values=values, precedence=" over ".join(names) or "-", chips=chips
        )

    def run(self) -> Iterator[bytes]:
        ctx = self.ctx
        self.add("README.txt", self.readme().encode(), compress=True)
        classes = {"0": "background", **{str(v): name for name, v in self.values.items()}}
        self.add("classes.json", orjson.dumps(classes, option=orjson.OPT_INDENT_2), compress=True)
        yield self.take()
        done = 0
        for batch in task_batches(ctx.session, ctx.project.id, ctx.selection):
            chosen = self.choose(annotations_of(ctx.session, batch.ids, self.one_per_task))
            shapes = self.shapes(chosen)
            for task in batch.tasks:
                annotation = chosen.get(task.id)
                yield from self.task(task, annotation.id if annotation else None, shapes.get(task.id, []))
            done += len(batch.tasks)
            ctx.progress(done)
        self.finish_notes()
        yield from self.close()

    def choose(self, annotations: list[Row[Any]]) -> dict[uuid.UUID, Row[Any]]:
        """The annotation each task's mask is made from (one per task: see ``one_per_task``)."""
        chosen = {a.observation_id: a for a in annotations}
        self.report.annotations += len(chosen)
        return chosen

    def shapes(self, chosen: dict[uuid.UUID, Row[Any]]) -> dict[uuid.UUID, list[LabeledShape]]:
        """Per task, its regions of classes in the config (the others are counted for the report)."""
        if not chosen:
            return {}
        rows = self.ctx.session.execute(
            self.regions_sql, {"annotations": [a.id for a in chosen.values()], **self.class_params}
        )
        shapes: dict[uuid.UUID, list[LabeledShape]] = defaultdict(list)
        for row in rows:
            if row.label not in self.values:
                self.unknown_regions += 1
                self.unknown_classes.add(row.label)
                continue
            self.report.regions += 1
            self.report.polygons += row.parts
            shapes[row.observation_id].append(LabeledShape(shapely.from_wkb(bytes(row.wkb)), row.label))
        return shapes

    def name_of(self, task: Row[Any]) -> tuple[str, str]:
        site = safe_name(task.site_name)
        stem = safe_name(stem_of(task.original_filename))
        for candidate in (stem, f"{stem}_{task.observation_index}", f"{stem}_{task.id}"):
            if (site, candidate) not in self.used_names:
                self.used_names.add((site, candidate))
                return site, candidate
        raise AssertionError("observation ids are unique")  # pragma: no cover

    def row(self, path: str, kind: str, task: Row[Any], annotation_id: uuid.UUID | None, **chip: int) -> None:
        acquired_on = task.acquired_on.isoformat() if task.acquired_on else ""
        row = {
            "file": path, "kind": kind, "site": task.site_name, "observation_id": str(task.id),
            "original_filename": task.original_filename, "acquired_on": acquired_on,
            "annotation_id": str(annotation_id) if annotation_id else "", **chip,
        }  # fmt: skip
        self.rows.writerow(row)

    def task(
        self, task: Row[Any], annotation_id: uuid.UUID | None, shapes: list[LabeledShape]
    ) -> Iterator[bytes]:
        self.report.tasks += 1
        site, stem = self.name_of(task)
        width, height = task.width, task.height
        with self.ctx.storage.gdal_env():
            mask = class_index_mask(shapes, self.classes, width, height)
            path = f"masks/{site}/{stem}.png"
            self.add(path, png(mask), compress=False)
        self.row(path, "mask", task, annotation_id, width=width, height=height)
        yield self.take()
        size = self.ctx.options.chip_size
        if size is None:
            return
        # The regular S x S grid from the top-left corner; the last row and column are padded with 0.
        grid = ChipGrid(width, height, size, edge="pad")
        source = self.image_source(task) if self.ctx.options.chip_images else None
        for _, chips in groupby(grid, key=lambda chip: chip.row):
            with self.ctx.storage.gdal_env():
                self.chip_row(task, annotation_id, (site, stem), mask, list(chips), source)
            yield self.take()

    def chip_row(
        self, task: Row[Any], annotation_id: uuid.UUID | None, names: tuple[str, str], mask: np.ndarray,
        chips: list[Chip], source: _ImageSource | None,
    ) -> None:  # fmt: skip
        """One row of the mask chips and, with ``source``, of the matching image chips."""
        site, stem = names
        with ImageReader(source.path) if source is not None else nullcontext() as reader:
            for chip in chips:
                fields = {"chip_row": chip.row, "chip_col": chip.col, "x_offset": chip.x, "y_offset": chip.y,
                          "width": chip.size, "height": chip.size}  # fmt: skip
                name = f"{stem}_r{chip.row}_c{chip.col}.png"
                path = f"chips/{site}/{name}"
                self.add(path, png(cut(mask, chip, fill=0)), compress=False)
                self.row(path, "mask_chip", task, annotation_id, **fields)
                if reader is None or source is None:
                    continue
                # Beyond the image the read is boundless: masked, so transparent once encoded. Full
                # resolution, no resampling: the window is read as stored.
                data = reader.read(indexes=source.spec.indexes, window=chip.window)
                path = f"images/{site}/{name}"
                self.add(
                    path,
                    encode(data, source.spec, TileFormat.PNG, self.ctx.tiles.jpeg_quality),
                    compress=False,
                )
                self.row(path, "image_chip", task, annotation_id, **fields)

    def image_source(self, task: Row[Any]) -> _ImageSource | None:
        """The COG to cut image chips from and how the tiles render it; None (noted) without a COG."""
        session = self.ctx.session
        observation = session.get(Observation, task.id)
        site = session.get(Site, task.site_id)
        if observation is None or site is None or observation.cog_key is None:
            self.without_cog.append(f"{task.site_name}/{task.original_filename}")
            return None
        spec = default_render_spec(observation, site, self.ctx.project.display_preset)
        return _ImageSource(self.ctx.storage.raster_path(observation.cog_key), spec)

    def finish_notes(self) -> None:
        report = self.report
        if self.without_cog:
            named = ", ".join(self.without_cog[:NAMED_IN_NOTES])
            more = (
                f" and {len(self.without_cog) - NAMED_IN_NOTES} more"
                if len(self.without_cog) > NAMED_IN_NOTES
                else ""
            )
            report.notes.append(
                f"{len(self.without_cog)} observation(s) have no COG, so no image chips were written for "
                f"them: {named}{more}."
            )
        if self.unknown_regions:
            report.notes.append(
                f"{self.unknown_regions} region(s) of classes not in the labeling config "
                f"({', '.join(sorted(self.unknown_classes))}) were left out."
            )

    def close(self) -> Iterator[bytes]:
        self.manifest.seek(0)
        info = zipfile.ZipInfo("manifest.csv", date_time=ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with self.zip.open(info, "w", force_zip64=True) as entry:
            while chunk := self.manifest.read(1 << 20):
                entry.write(chunk.encode())
                yield self.take()
        self.manifest.close()
        self.add(
            "report.json", orjson.dumps(self.report.to_dict(), option=orjson.OPT_INDENT_2), compress=True
        )
        self.zip.close()
        yield self.take()


def write(ctx: ExportContext, report: ExportReport) -> Iterator[bytes]:
    writer = _Writer(ctx, report)
    try:
        yield from writer.run()
    finally:
        writer.manifest.close()


FORMAT = register(
    ExportFormat(
        name="masks", media_type="application/zip", extension="zip", writer=write,
        description="PNG class masks per image (0 background, 1.. classes in config order; first class wins "
        "overlaps), optionally cut into chips with matching image chips (zip)",
    )
)  # fmt: skip
