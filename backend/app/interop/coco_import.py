"""COCO import: the instance segmentations Roboflow, CVAT and pycocotools write become annotations (or
predictions) of the project's observations, one per image.

- Images are matched to observations by file name: the base name of ``file_name`` (folders dropped; when
  two sites hold that name, the folder naming a site picks it), in any case; Roboflow's renaming
  ``<stem>_<ext>.rf.<hash>.jpg`` is undone; last, the name without its extension (a file re-encoded as
  JPEG). An image with annotations that matches nothing, or whose ``width`` x ``height`` is not the
  observation's, is a problem (COCO coordinates are pixels of the image as it was labeled).
- Categories become classes through ``label_map``, else by equal name in any case; an unknown category
  used by annotations is a problem, or (``unknown_classes=skip``) its annotations are skipped and counted.
- Each annotation becomes one region: its polygons (``[x1, y1, x2, y2, ...]`` in pixels, x = column,
  y = row: MineLabel's pixel space) joined into one (Multi)Polygon, self-intersections repaired by PostGIS,
  parts past the image's edge clipped; or its RLE mask (``iscrowd``; uncompressed counts or the compressed
  string) traced along pixel edges by the shared vectorizer, holes kept.

Everything is checked first; one problem rejects the file, listing every problem by image, annotation and
category index (0-based), and nothing is stored. Each observation's annotation remembers a key made from
the observation, what it becomes and its shapes, so importing the file again adds nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import orjson
import shapely
from shapely import geometry as shp

from app.core.errors import InvalidInputError
from app.interop.coco_names import ObservationNames
from app.interop.import_store import store_imported
from app.interop.imports import (
    ClassNames,
    ImportContext,
    ImportFormat,
    ImportProblem,
    ImportReport,
    imported_before,
    load_json_document,
    register,
    reject,
)
from app.interop.rle import RleError, counts_from_string, decode
from app.interop.sniff import looks_like, sniff_json
from app.labels.geometry import GeometryChangeCode, check_region_geometry
from app.ml.vectorize import vectorize
from app.models.annotation import Annotation, Prediction, RegionSource
from app.models.observation import Observation, TaskState
from app.repositories.labels import postgis_make_valid
from app.services import annotations as annotation_service
from app.services import workflow

WHAT = "COCO file"
_LISTED = 10


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


@dataclass
class _Image:
    index: int
    file_name: str
    observation: Observation | None = None
    regions: list[annotation_service.RegionInput] = field(default_factory=list)
    shapes: list[Any] = field(default_factory=list)  # what makes its import key: (label, segmentation)
    annotations: int = 0  # in the file, before skips


class _Reader:
    def __init__(self, ctx: ImportContext, report: ImportReport) -> None:
        self.ctx, self.report = ctx, report
        self.problems: list[ImportProblem] = []
        self.names = ClassNames(ctx.config.class_names, ctx.options.label_map)
        self.problems.extend(self.names.problems())
        self.files = ObservationNames(ctx)
        self.make_valid = postgis_make_valid(ctx.session)
        self.matched: Counter[str] = Counter()
        self.repaired = 0
        self.masks = 0
        self.clipped = 0

    def problem(self, message: str, **at: int) -> None:
        self.problems.append(ImportProblem(message, **at))

    def read(self, doc: dict[str, Any]) -> list[_Image]:
        categories = self.categories(doc.get("categories"))
        images = self.images(doc["images"])
        annotations = doc["annotations"]
        by_image: dict[Any, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        seen: set[Any] = set()
        for ai, annotation in enumerate(annotations):
            if not isinstance(annotation, dict):
                self.problem("an annotation must be a JSON object", annotation=ai)
                continue
            ident = annotation.get("id")
            if ident is not None:
                if not (_is_int(ident) or isinstance(ident, str)):
                    self.problem(f"annotation id {ident!r} is neither an integer nor a string", annotation=ai)
                elif ident in seen:
                    self.problem(f"annotation id {ident!r} appears twice in the file", annotation=ai)
                else:
                    seen.add(ident)
            image_id = annotation.get("image_id")
            if not (_is_int(image_id) or isinstance(image_id, str)) or image_id not in images:
                self.problem(f"image_id {image_id!r} is not the id of an image of the file", annotation=ai)
                continue
            by_image[image_id].append((ai, annotation))
        self.category_use(annotations, categories)
        planned = []
        for image_id, image in images.items():
            found = by_image.get(image_id, [])
            image.annotations = len(found)
            if not found:
                continue
            self.place(image, doc["images"][image.index])
            if image.observation is None:
                continue
            for ai, annotation in found:
                self.annotation(image, ai, annotation, categories)
            planned.append(image)
        self.notes(images)
        return planned

    def categories(self, categories: object) -> dict[Any, tuple[int, str, str | None]]:
        """Category id -> (its index, its name, the class it becomes or None)."""
        if not isinstance(categories, list):
            self.problem("categories must be a list of {id, name} objects")
            return {}
        found: dict[Any, tuple[int, str, str | None]] = {}
        for ci, category in enumerate(categories):
            if not isinstance(category, dict):
                self.problem("a category must be a JSON object", category=ci)
                continue
            ident, name = category.get("id"), category.get("name")
            if not (_is_int(ident) or isinstance(ident, str)) or not isinstance(name, str):
                self.problem(
                    f"a category needs an integer id and a name, not {ident!r} and {name!r}", category=ci
                )
                continue
            if ident in found:
                self.problem(f"category id {ident!r} appears twice in the file", category=ci)
                continue
            found[ident] = (ci, name, self.names.resolve(name))
        return found

    def category_use(
        self, annotations: list[Any], categories: dict[Any, tuple[int, str, str | None]]
    ) -> None:
        """Problems (or notes, with unknown_classes=skip) for the unknown categories that are used."""
        used = Counter(
            a.get("category_id")
            for a in annotations
            if isinstance(a, dict) and a.get("category_id") in categories
        )
        skip = self.ctx.options.unknown_classes == "skip"
        for ident, count in sorted(used.items(), key=lambda item: categories[item[0]][0]):
            ci, name, label = categories[ident]
            if label is not None:
                continue
            if skip:
                self.report.skip("unknown_class", count)
                self.report.notes.append(
                    f"category {name!r} (id {ident}) is not one of the project's classes: its {count} "
                    "annotation(s) were skipped (unknown_classes=skip)"
                )
            else:
                self.problem(
                    f"category {name!r} (id {ident}, {count} annotation(s)) is not one of the project's "
                    f"classes {self.names.classes}: map it with label_map, e.g. "
                    f'{{"{name}": "{self.names.classes[0]}"}}, or pass unknown_classes=skip',
                    category=ci,
                )

    def images(self, images: list[Any]) -> dict[Any, _Image]:
        found: dict[Any, _Image] = {}
        for ii, image in enumerate(images):
            if not isinstance(image, dict):
                self.problem("an image must be a JSON object", image=ii)
                continue
            ident, file_name = image.get("id"), image.get("file_name")
            if not (_is_int(ident) or isinstance(ident, str)):
                self.problem(f"image id {ident!r} is neither an integer nor a string", image=ii)
                continue
            if ident in found:
                self.problem(f"image id {ident!r} appears twice in the file", image=ii)
                continue
            if not isinstance(file_name, str) or not file_name.strip():
                self.problem(f"image {ident!r} has no file_name", image=ii)
                continue
            found[ident] = _Image(ii, file_name)
        return found

    def place(self, image: _Image, raw: dict[str, Any]) -> None:
        """Match an image with annotations to its observation, and check its size."""
        where = {"image": image.index}
        matches, how = self.files.match(image.file_name)
        if not matches:
            known = ", ".join(self.files.examples) or "none: upload the images first"
            self.problem(
                f"image {image.file_name!r} ({image.annotations} annotation(s)) matches no observation of "
                f"the project by file name (e.g. {known})",
                **where,
            )
            return
        if len(matches) > 1:
            self.problem(
                f"image {image.file_name!r} matches {len(matches)} observations "
                f"({', '.join(sorted(o.original_filename for o in matches)[:5])}); put the site's name in "
                "its folder (site/name.png) to tell them apart",
                **where,
            )
            return
        (observation,) = matches
        width, height = raw.get("width"), raw.get("height")
        if not (_is_int(width) and _is_int(height)):
            self.problem(
                f"image {image.file_name!r} has no integer width and height (COCO requires them), so its "
                f"size cannot be checked against observation {observation.original_filename}'s",
                **where,
            )
            return
        if (width, height) != (observation.width, observation.height):
            self.problem(
                f"image {image.file_name!r} is {width} x {height} px in the file, but observation "
                f"{observation.original_filename} is {observation.width} x {observation.height} px: COCO "
                "coordinates are pixels of the image as it was labeled, so they would land in the wrong "
                "place (export without resizing, e.g. Roboflow's 'Resize' preprocessing off)",
                **where,
            )
            return
        image.observation = observation
        self.matched[how] += 1

    def annotation(
        self,
        image: _Image,
        ai: int,
        annotation: dict[str, Any],
        categories: dict[Any, tuple[int, str, str | None]],
    ) -> None:
        at = {"image": image.index, "annotation": ai}
        category_id = annotation.get("category_id")
        if category_id not in categories:
            self.problem(f"category_id {category_id!r} is not the id of a category of the file", **at)
            return
        label = categories[category_id][2]
        if label is None:
            return  # a problem, or skipped and counted, by category_use()
        score = annotation.get("score")
        if score is not None and (not _is_number(score) or not 0 <= float(score) <= 1):
            self.problem(f"score {score!r} must be a number from 0 to 1", **at)
            return
        segmentation = annotation.get("segmentation")
        if isinstance(segmentation, dict):
            geometry = self.mask(segmentation, image, at)
        elif isinstance(segmentation, list) and segmentation:
            geometry = self.polygons(segmentation, at)
        else:
            self.problem(
                "the annotation has no segmentation (a bounding box only?): MineLabel imports polygons "
                "and RLE masks",
                **at,
            )
            return
        if geometry is None:
            return
        observation = image.observation
        assert observation is not None
        try:
            checked = check_region_geometry(
                shp.mapping(geometry),
                region=f"of annotation {ai}",
                width=observation.width,
                height=observation.height,
                max_vertices=self.ctx.limits.max_polygon_vertices,
                repair=True,
                clip=True,
                make_valid=self.make_valid,
            )
        except InvalidInputError as exc:
            self.problem(str(exc), **at)
            return
        codes = {change.code for change in checked.changes}
        self.repaired += GeometryChangeCode.REPAIRED in codes
        if GeometryChangeCode.CLIPPED in codes:
            self.clipped += 1
        image.regions.append(
            annotation_service.RegionInput(
                label=label,
                geometry=shp.mapping(checked.geometry),
                source=RegionSource.IMPORT,
                score=float(score) if score is not None else None,
            )
        )
        image.shapes.append([label, segmentation, score])

    def polygons(self, segmentation: list[Any], at: dict[str, int]) -> Any:
        """COCO polygons (flat lists of x, y) -> one geometry, overlapping parts joined."""
        parts = []
        for pi, flat in enumerate(segmentation):
            if not isinstance(flat, list) or not all(_is_number(v) for v in flat):
                self.problem(f"polygon {pi} is not a flat list of numbers [x1, y1, x2, y2, ...]", **at)
                return None
            if len(flat) % 2 or len(flat) < 6:
                self.problem(
                    f"polygon {pi} has {len(flat)} numbers: it needs x, y pairs of at least 3 vertices", **at
                )
                return None
            ring = list(zip(flat[::2], flat[1::2], strict=True))
            polygon: Any = shp.Polygon(ring)
            if not polygon.is_valid:
                polygon = self.make_valid(shp.MultiPolygon([polygon]))
                self.repaired += 1
            if polygon.is_empty or polygon.area == 0:
                self.problem(f"polygon {pi} has no area", **at)
                return None
            parts.append(polygon)
        merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        return merged

    def mask(self, segmentation: dict[str, Any], image: _Image, at: dict[str, int]) -> Any:
        """A COCO RLE mask -> its polygons along pixel edges, holes kept."""
        size, counts = segmentation.get("size"), segmentation.get("counts")
        observation = image.observation
        assert observation is not None
        if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) for v in size)):
            self.problem(f"the RLE's size must be [height, width], not {size!r}", **at)
            return None
        height, width = size
        if (width, height) != (observation.width, observation.height):
            self.problem(
                f"the RLE's size [height, width] is {size}, not the image's [{observation.height}, "
                f"{observation.width}]",
                **at,
            )
            return None
        try:
            if isinstance(counts, str):
                runs = counts_from_string(counts)
            elif isinstance(counts, list) and all(_is_int(v) for v in counts):
                runs = counts
            else:
                self.problem("the RLE's counts must be a list of integers or a compressed string", **at)
                return None
            cropped = decode(runs, height, width)
        except RleError as exc:
            self.problem(f"the RLE mask cannot be read: {exc}", **at)
            return None
        polygons = [p.geometry for p in vectorize(cropped.mask, offset=cropped.offset)]
        self.masks += 1
        return shp.MultiPolygon(polygons)

    def notes(self, images: dict[Any, _Image]) -> None:
        report = self.report
        matched = sum(self.matched.values())
        if matched:
            ways = {
                "name": "by file name",
                "roboflow": "after undoing Roboflow's renaming (<name>_<ext>.rf.<hash>.jpg)",
                "stem": "by file name without extension",
            }
            how = "; ".join(f"{count} {ways[way]}" for way, count in sorted(self.matched.items()))
            report.notes.append(f"{matched} image(s) with annotations matched observations: {how}")
        empty = [image for image in images.values() if image.annotations == 0]
        if empty:
            unmatched = [i.file_name for i in empty if not self.files.match(i.file_name)[0]]
            note = f"{len(empty)} image(s) of the file have no annotations"
            if unmatched:
                note += (
                    f"; {len(unmatched)} of them match no observation (nothing lost): "
                    f"{', '.join(unmatched[:_LISTED])}"
                )
            report.notes.append(note)
        if self.masks:
            report.notes.append(
                f"{self.masks} RLE mask(s) traced into polygons along pixel edges (holes kept)"
            )
        if self.repaired:
            report.notes.append(
                f"{self.repaired} polygon(s) crossed themselves and were repaired (PostGIS ST_MakeValid)"
            )
        if self.clipped:
            report.clipped += self.clipped
            report.notes.append(
                f"{self.clipped} annotation(s) reached past the image's edge and were clipped"
            )
        mapped = {k: self.names.resolve(k) for k in self.ctx.options.label_map}
        if mapped:
            report.notes.append(
                "categories mapped by label_map: "
                + ", ".join(f"{k} -> {v}" for k, v in mapped.items() if v is not None)
            )


def _key(ctx: ImportContext, image: _Image) -> str:
    assert image.observation is not None
    canonical = orjson.dumps(
        [str(image.observation.id), "coco", ctx.options.as_, image.shapes], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def _load(path: Path) -> dict[str, Any]:
    doc = load_json_document(path, WHAT)
    guess = sniff_json(doc)
    if guess != "coco":
        message = looks_like(guess, "coco") or (
            "a COCO file is a JSON object with images, annotations and categories lists"
        )
        raise reject([ImportProblem(message)], WHAT)
    assert isinstance(doc, dict)
    return doc


def import_coco(ctx: ImportContext, path: Path) -> ImportReport:
    report = ImportReport(format="coco")
    doc = _load(path)
    reader = _Reader(ctx, report)
    planned = reader.read(doc)
    if reader.problems:
        raise reject(reader.problems, WHAT)
    report.items_read = len(doc["annotations"])
    session = ctx.session
    as_predictions = ctx.options.as_ == "predictions"
    model = Prediction if as_predictions else Annotation
    for image in planned:
        observation = image.observation
        assert observation is not None
        if not image.regions:
            continue  # every annotation of it was of a skipped category
        key = _key(ctx, image)
        if imported_before(session, model, observation.id, key):
            report.skipped_as_imported_before += len(image.regions)
            continue
        store_imported(ctx, observation, image.regions, key, report)
        if not as_predictions:
            _submit(ctx, observation)
        report.regions_created += len(image.regions)
    if report.skipped_as_imported_before:
        report.notes.append(
            f"{report.skipped_as_imported_before} annotation(s) were imported before (same images, shapes "
            f"and classes, as {ctx.options.as_}): nothing was added for them"
        )
    session.flush()
    return report


def _submit(ctx: ImportContext, observation: Observation) -> None:
    """A task that was new or in progress and received an imported annotation is ready for review."""
    if observation.task_state in (TaskState.NEW, TaskState.IN_PROGRESS):
        workflow.audit(
            ctx.session,
            observation,
            observation.project_id,
            ctx.importer_id,
            "import",
            observation.task_state,
            TaskState.SUBMITTED,
        )
        observation.task_state = TaskState.SUBMITTED


register(
    ImportFormat(
        name="coco",
        importer=import_coco,
        description="COCO instance segmentation (Roboflow, CVAT, pycocotools): polygons and RLE masks in "
        "pixels, images matched to observations by file name; as annotations or predictions",
        options=frozenset({"label_map", "unknown_classes", "model_version"}),
    )
)
