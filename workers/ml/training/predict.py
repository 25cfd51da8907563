"""The `predict` job: a trained model over a selection of observations, as predictions (source ``model``).

Each image is read whole (all bands, as the dataset stored them), normalised with the model's own statistics,
cut into overlapping tiles that are blended back without seams (app.ml.blending), each tile averaged over
flips (TRAIN__FLIP_TTA), and turned into nested polygons (app.ml.class_polygons). The mean per-pixel entropy
becomes the observation's uncertainty, which "next task" can order by. Idempotent per (model version,
observation): a second run over the same images adds nothing.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import numpy as np
import rasterio
import torch
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import TrainSettings, get_settings
from app.imagery.storage import Storage, gdal_env, make_storage
from app.interop.labeling_config import parse_labeling_config
from app.jobs.runner import JobContext
from app.ml.blending import Blender, mean_entropy
from app.ml.chips import ChipGrid
from app.ml.class_polygons import PolygonRules, class_polygons
from app.models.annotation import Prediction, RegionSource
from app.models.ml import ModelState, ModelVersion
from app.models.observation import Observation, ObservationStatus
from app.models.project import Project
from app.repositories.prediction_writer import PredictedPolygon, write_predictions
from app.schemas.ml import BandStats, PredictParams, PredictResult
from app.services import models as models_service
from workers.ml.training.chips import normalise
from workers.ml.training.loop import autocast
from workers.ml.training.run import model_from_checkpoint, pick_device

logger = logging.getLogger(__name__)


def _tile_size(requested: int, depth: int, width: int, height: int) -> int:
    """A tile the U-Net takes (a multiple of 2**depth), no bigger than needed to cover the image."""
    multiple = int(2**depth)
    needed = -(-max(width, height) // multiple) * multiple
    return max(min(-(-requested // multiple) * multiple, needed), multiple)


@torch.inference_mode()
def probabilities_of(
    model: torch.nn.Module,
    image: np.ndarray,
    stats: BandStats,
    depth: int,
    settings: TrainSettings,
    device: torch.device,
) -> np.ndarray:
    """(classes, height, width) probabilities of a (bands, height, width) image as stored."""
    bands, height, width = image.shape
    tile = _tile_size(settings.predict_tile, depth, width, height)
    overlap = min(settings.predict_overlap, tile // 4)
    grid = ChipGrid(width, height, tile, tile - overlap, edge="shift")
    normalised = normalise(image, stats)
    blender: Blender | None = None
    chips = list(grid)
    for start in range(0, len(chips), settings.predict_batch_size):
        batch = chips[start : start + settings.predict_batch_size]
        tiles = np.zeros((len(batch), bands, tile, tile), dtype=np.float32)
        for i, chip in enumerate(batch):
            rows, cols = min(tile, height - chip.y), min(tile, width - chip.x)
            tiles[i, :, :rows, :cols] = normalised[:, chip.y : chip.y + rows, chip.x : chip.x + cols]
        x = torch.from_numpy(tiles).to(device)
        flips: list[tuple[int, ...]] = [()] + ([(3,), (2,)] if settings.flip_tta else [])
        total = None
        with autocast(device):
            for dims in flips:
                logits = model(torch.flip(x, dims) if dims else x)
                p = torch.sigmoid(logits.float())
                p = torch.flip(p, dims) if dims else p
                total = p if total is None else total + p
        assert total is not None
        probabilities = (total / len(flips)).cpu().numpy()
        if blender is None:
            blender = Blender(probabilities.shape[1], height, width, tile)
        for i, chip in enumerate(batch):
            blender.add(chip, probabilities[i])
    assert blender is not None
    return blender.result()


def read_image(storage: Storage, observation: Observation) -> tuple[np.ndarray, np.ndarray]:
    """All bands as stored, and where the image has data."""
    assert observation.cog_key is not None
    with gdal_env(storage), rasterio.open(storage.raster_path(observation.cog_key)) as src:
        return src.read(), src.read_masks(1) > 0


def _already(session: Session, observation_id: uuid.UUID, model_version: str) -> bool:
    return (
        session.scalar(
            select(Prediction.id).where(
                Prediction.observation_id == observation_id, Prediction.model_version == model_version
            )
        )
        is not None
    )


def _km2(session: Session, observation: Observation) -> float:
    if observation.footprint is None:
        return 0.0
    area = session.scalar(
        select(func.ST_Area(func.Geography(Observation.footprint))).where(Observation.id == observation.id)
    )
    return float(area or 0.0) / 1e6


def load_model(
    storage: Storage, version: ModelVersion, folder: Path
) -> tuple[torch.nn.Module, int, BandStats]:
    if version.state is not ModelState.TRAINED or version.checkpoint_key is None:
        raise RuntimeError(f"Model {version.name} is {version.state.value}; only a trained model predicts.")
    path = folder / "model.pt"
    with path.open("wb") as handle:
        for chunk in storage.iter_bytes(version.checkpoint_key):
            handle.write(chunk)
    model, arch, stats = model_from_checkpoint(path)
    return model, arch.encoder_depth, stats


def predict(ctx: JobContext[PredictParams]) -> PredictResult:
    settings = get_settings()
    storage = make_storage(settings.storage)
    session = ctx.session
    version = models_service.get_version(session, ctx.params.model_version_id)
    project = session.get(Project, version.project_id)
    assert project is not None
    device = pick_device(settings.train.device, 0)
    ctx.progress(0.0, f"loading {version.name}")
    model, depth, stats = load_model(storage, version, ctx.scratch)
    model.to(device).eval()
    project_classes = parse_labeling_config(project.labeling_config).class_names
    rules = PolygonRules(
        threshold=ctx.params.threshold,
        sieve_px=settings.train.sieve_px,
        min_area_px=settings.train.min_area_px,
        simplify_px=settings.train.simplify_px,
    )
    done = skipped = regions = 0
    km2 = 0.0
    ids = ctx.params.observation_ids
    for number, observation_id in enumerate(ids, start=1):
        ctx.progress((number - 1) / len(ids), f"predicting image {number} of {len(ids)} with {version.name}")
        observation = session.get(Observation, observation_id)
        if (
            observation is None
            or observation.project_id != version.project_id
            or observation.status is not ObservationStatus.READY
            or observation.band_count != version.in_channels
            or _already(session, observation_id, version.name)
        ):
            skipped += 1
            continue
        image, valid = read_image(storage, observation)
        probabilities = probabilities_of(model, image, stats, depth, settings.train, device)
        ctx.check()
        found = class_polygons(probabilities, valid, version.classes, rules)
        # A binary model's one "mining" class is no class of the project's: its regions come unclassed.
        polygons = [
            PredictedPolygon(
                p.geometry,
                p.label if p.label in project_classes else None,
                score=min(max(p.score, 0.0), 1.0),
                source=RegionSource.MODEL,
            )
            for p in found
        ]
        scores = [p.score for p in found]
        write_predictions(
            session,
            observation,
            version.name,
            polygons,
            classes=project_classes,
            score=float(np.mean(scores)) if scores else None,
        )
        observation.uncertainty = mean_entropy(probabilities, valid)
        observation.uncertainty_model = version.name
        session.commit()
        done += 1
        regions += len(polygons)
        km2 += _km2(session, observation)
    ctx.progress(1.0, f"{regions} region(s) on {done} image(s), {skipped} skipped")
    return PredictResult(
        model_version=version.name, observations=done, skipped=skipped, regions=regions, km2=km2
    )
