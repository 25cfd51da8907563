"""Training datasets: a frozen snapshot of a project's approved tasks, cut into chips, split by site.

For each approved task, its ground truth (app.repositories.ground_truth, the one rule) becomes one mask
per class (multi-label), beside all of the image's bands as stored and an ignore mask (nodata, and the
padding of chips reaching past the image). Chips are ``.npz`` files in storage with a manifest (classes,
bands, normalisation over the training chips, each chip's split and hash, and a hash of it all): what an
engineer downloads is exactly what training reads. docs/adr/2026-12-01-retraining-plain-pytorch-in-a-
subprocess.md says why, and how sites are split.
"""

from __future__ import annotations

import hashlib
import io
import math
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import numpy as np
import rasterio
from geoalchemy2.shape import to_shape
from rasterio.windows import Window
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ConflictError, InvalidInputError
from app.imagery.storage import Storage, gdal_env
from app.interop.labeling_config import parse_labeling_config
from app.interop.masks import ZIP_DATE, ZipSink
from app.ml.chips import ChipGrid
from app.ml.rasterize import LabeledShape, class_masks
from app.models.annotation import Region
from app.models.ml import Dataset, DatasetState
from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.project import Project, Site
from app.repositories.ground_truth import task_annotations
from app.schemas.ml import (
    BandStats,
    ChipEntry,
    DatasetManifest,
    DatasetParams,
    DatasetResult,
    Split,
    SplitSummary,
)

Progress = Callable[[float, str], None]
BINARY_CLASS = "mining"  # the one class of a project's "binary mining" target (the union of its classes)


class DatasetInputError(InvalidInputError):
    code = "dataset_input_invalid"


class NoTestSiteError(ConflictError):
    code = "no_test_site"


def dataset_prefix(dataset_id: uuid.UUID) -> str:
    return f"datasets/{dataset_id}"


def target_classes(project: Project) -> list[str]:
    """The model's output channels: the project's classes, or one "mining" class."""
    if project.binary_mining:
        return [BINARY_CLASS]
    return parse_labeling_config(project.labeling_config).class_names


def approved_tasks(session: Session, project_id: uuid.UUID) -> list[Observation]:
    return list(
        session.scalars(
            select(Observation)
            .where(
                Observation.project_id == project_id,
                Observation.task_state == TaskState.APPROVED,
                Observation.status == ObservationStatus.READY,
                Observation.cog_key.is_not(None),
            )
            .order_by(Observation.site_id, Observation.index)
        )
    )


def check_can_build(session: Session, project: Project) -> list[Observation]:
    """The approved tasks a dataset would hold, or a clear error: none yet, one site only, mixed bands."""
    tasks = approved_tasks(session, project.id)
    if not tasks:
        raise DatasetInputError(
            "The project has no approved task yet: a dataset holds approved labels only; review and "
            "approve some tasks first."
        )
    sites = {t.site_id for t in tasks}
    if len(sites) < 2:
        raise DatasetInputError(
            "All approved tasks are of one site: a model is tested on sites it never trained on, so a "
            "dataset needs approved tasks on at least two sites."
        )
    bands = sorted({t.band_count for t in tasks})
    if len(bands) > 1:
        examples = {t.band_count: t.original_filename for t in tasks}
        listed = ", ".join(f"{n} ({examples[n]})" for n in bands)
        raise DatasetInputError(
            f"The approved images have different numbers of bands: {listed}; a model takes one number of "
            "bands. Keep one kind of image per project."
        )
    return tasks


def _draw(site_id: uuid.UUID, seed: int, salt: str) -> float:
    """A number in [0, 1) that depends only on the site, the seed and what it is drawn for."""
    digest = hashlib.sha256(f"{salt}:{seed}:{site_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(session: Session, sites: list[Site], params: DatasetParams) -> dict[uuid.UUID, Split]:
    """Test sites are drawn once and frozen (``is_test_site``); validation sites per dataset among the
    others."""
    undrawn = [s for s in sites if s.is_test_site is None]
    for site in undrawn:
        site.is_test_site = _draw(site.id, 0, "test") < params.test_fraction
    if not any(s.is_test_site for s in sites):
        if not undrawn:
            raise NoTestSiteError(
                "Every site with approved tasks is frozen as a training site: none is left to test a model "
                "on. Approve tasks of another site first."
            )
        min(undrawn, key=lambda s: _draw(s.id, 0, "test")).is_test_site = True
    if all(s.is_test_site for s in sites) and undrawn:
        # Every site drawn now came out a test site (two sites drawn at 0.2 do, one time in 25): the one
        # drawn last trains instead, so that a dataset of new sites never needs a third to start.
        max(undrawn, key=lambda s: _draw(s.id, 0, "test")).is_test_site = False
    if all(s.is_test_site for s in sites):
        raise NoTestSiteError(
            "Every site with approved tasks is a frozen test site: none is left to train on. Approve "
            "tasks of another site first."
        )
    session.flush()
    rest = sorted((s for s in sites if not s.is_test_site), key=lambda s: _draw(s.id, params.seed, "val"))
    val_count = min(math.ceil(params.val_fraction * len(rest)), len(rest) - 1) if params.val_fraction else 0
    splits: dict[uuid.UUID, Split] = {s.id: "test" for s in sites if s.is_test_site}
    for number, site in enumerate(rest):
        splits[site.id] = "val" if number < val_count else "train"
    return splits


def build(
    session: Session, storage: Storage, dataset: Dataset, params: DatasetParams, progress: Progress
) -> DatasetResult:
    """Cut the project's approved tasks into chips and store them with their manifest. Commits the test
    sites' draw and the dataset row; a dataset that fails is marked so, and its files removed."""
    project = session.get(Project, dataset.project_id)
    assert project is not None
    tasks = check_can_build(session, project)
    classes = target_classes(project)
    sites = list(session.scalars(select(Site).where(Site.id.in_({t.site_id for t in tasks}))))
    splits = assign_splits(session, sites, params)
    truths = task_annotations(session, [t.id for t in tasks])
    prefix = dataset_prefix(dataset.id)
    storage.delete_prefix(prefix)  # what a killed attempt left
    chips: list[ChipEntry] = []
    stats = _Stats(tasks[0].band_count)
    try:
        for number, task in enumerate(tasks, start=1):
            progress(
                (number - 1) / len(tasks), f"cutting {task.original_filename} ({number} of {len(tasks)})"
            )
            shapes = _ground_truth_shapes(session, truths.get(task.id), classes)
            split = splits[task.site_id]
            for entry, image, valid in _cut(storage, task, shapes, classes, params, prefix, split):
                chips.append(entry)
                if split == "train":
                    stats.add(image, valid)
        normalisation = stats.result()
        digest = hashlib.sha256("".join(c.sha256 for c in chips).encode()).hexdigest()
        manifest = DatasetManifest(
            dataset_id=dataset.id,
            project_id=project.id,
            classes=classes,
            band_count=tasks[0].band_count,
            band_names=list(tasks[0].band_names),
            chip_size=params.chip_size,
            stride=params.stride,
            normalisation=normalisation,
            chips=chips,
            content_hash=digest,
            created_at=datetime.now(UTC),
        )
        storage.put_bytes(manifest.model_dump_json().encode(), f"{prefix}/manifest.json")
    except BaseException:
        session.rollback()
        storage.delete_prefix(prefix)
        raise
    summary = _summary(chips, splits, tasks)
    dataset.state = DatasetState.READY
    dataset.manifest_key = f"{prefix}/manifest.json"
    dataset.content_hash = digest
    dataset.classes = classes
    dataset.band_count = tasks[0].band_count
    dataset.summary = {split: s.model_dump() for split, s in summary.items()}
    session.commit()
    progress(1.0, f"{len(chips)} chips of {len(tasks)} images")
    return DatasetResult(dataset_id=dataset.id, content_hash=digest, splits=summary)


def _ground_truth_shapes(
    session: Session, annotation_id: uuid.UUID | None, classes: list[str]
) -> list[LabeledShape]:
    if annotation_id is None:
        return []
    regions = session.scalars(
        select(Region)
        .where(Region.annotation_id == annotation_id, Region.deleted_at.is_(None))
        .order_by(Region.id)
    )
    binary = classes == [BINARY_CLASS]
    return [
        LabeledShape(to_shape(r.geom), BINARY_CLASS if binary else r.label or "")
        for r in regions
        if binary or r.label in classes
    ]


def _cut(
    storage: Storage,
    task: Observation,
    shapes: list[LabeledShape],
    classes: list[str],
    params: DatasetParams,
    prefix: str,
    split: Split,
) -> list[tuple[ChipEntry, np.ndarray, np.ndarray]]:
    """The task's chips: written to storage, returned with their pixels for the statistics."""
    assert task.cog_key is not None
    grid = ChipGrid(task.width, task.height, params.chip_size, params.stride, edge="shift")
    found = []
    with gdal_env(storage), rasterio.open(storage.raster_path(task.cog_key)) as src:
        for chip in grid:
            window = Window(chip.x, chip.y, chip.size, chip.size)
            image = src.read(window=window, boundless=True, fill_value=0)
            valid = src.read_masks(1, window=window, boundless=True) > 0  # nodata and the outside are 0
            inside = np.zeros_like(valid)
            inside[
                : max(min(task.height - chip.y, chip.size), 0), : max(min(task.width - chip.x, chip.size), 0)
            ] = True
            valid &= inside
            masks = class_masks(
                shapes, classes, chip.size, chip.size, offset=(chip.x, chip.y), unknown="ignore"
            )
            data = _npz(image, masks, ~valid)
            key = f"{prefix}/chips/{split}/{task.id}_{chip.x}_{chip.y}.npz"
            storage.put_bytes(data, key)
            entry = ChipEntry(
                key=key,
                split=split,
                site_id=task.site_id,
                observation_id=task.id,
                x=chip.x,
                y=chip.y,
                size=chip.size,
                sha256=hashlib.sha256(data).hexdigest(),
            )
            found.append((entry, image, valid))
    return found


def _npz(image: np.ndarray, masks: np.ndarray, ignore: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, image=image, masks=masks, ignore=ignore)
    return buffer.getvalue()


def read_chip(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image (bands, H, W) as stored, masks (classes, H, W) bool, ignore (H, W) bool) of a chip file."""
    with np.load(io.BytesIO(data), allow_pickle=False) as chip:
        return chip["image"], chip["masks"], chip["ignore"]


class _Stats:
    """Per-band mean and standard deviation over valid pixels, summed chip by chip (float64)."""

    def __init__(self, bands: int) -> None:
        self.total = np.zeros(bands)
        self.squares = np.zeros(bands)
        self.count = 0

    def add(self, image: np.ndarray, valid: np.ndarray) -> None:
        pixels = image[:, valid].astype(np.float64)
        self.total += pixels.sum(axis=1)
        self.squares += (pixels**2).sum(axis=1)
        self.count += pixels.shape[1]

    def result(self) -> BandStats:
        if self.count == 0:
            raise DatasetInputError("The training sites' chips hold no valid pixel (all nodata).")
        mean = self.total / self.count
        std = np.sqrt(np.maximum(self.squares / self.count - mean**2, 0.0))
        return BandStats(mean=mean.tolist(), std=np.maximum(std, 1e-6).tolist())


def _summary(
    chips: list[ChipEntry], splits: dict[uuid.UUID, Split], tasks: list[Observation]
) -> dict[str, SplitSummary]:
    result = {}
    for split in ("train", "val", "test"):
        of_split = [t for t in tasks if splits[t.site_id] == split]
        result[split] = SplitSummary(
            chips=sum(c.split == split for c in chips),
            sites=len({t.site_id for t in of_split}),
            observations=len(of_split),
        )
    return result


def iter_zip(storage: Storage, dataset: Dataset) -> Iterator[bytes]:
    """The dataset as a streamed zip: manifest.json and every chip at its key (the manifest's keys are
    paths in the zip), exactly the bytes training reads (chips are compressed already: stored as they are)."""
    if dataset.state is not DatasetState.READY or dataset.manifest_key is None:
        raise ConflictError(f"Dataset {dataset.id} is {dataset.state.value}; only a ready dataset downloads.")
    raw = storage.get_bytes(dataset.manifest_key)
    manifest = DatasetManifest.model_validate_json(raw)
    sink = ZipSink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        archive.writestr(_entry("manifest.json", zipfile.ZIP_DEFLATED), raw)
        for chip in manifest.chips:
            archive.writestr(_entry(chip.key, zipfile.ZIP_STORED), storage.get_bytes(chip.key))
            yield sink.take()
    yield sink.take()


def _entry(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info
