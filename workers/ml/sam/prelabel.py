"""The ``sam_prelabel`` and ``sam_carry_forward`` jobs: SAM's masks stored as predictions (source ``sam``).

Pre-labels prompt every window with a grid of points (as segment-anything's automatic mask generator does),
keep masks above SAM's quality thresholds, drop duplicates (box NMS within and across windows), and class
each mask by the site's approved regions of the previous date (the one it overlaps best, IoU >= 0.5), else by
the champion segmentation model's predictions on the image, else leave it unclassed for the annotator.
Carry-forward prompts the next date with each approved region's box and interior points, and scores how
much the shape changed (1 - IoU). Both are idempotent per (model version, observation): a second run adds
nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import numpy as np
import torch
from geoalchemy2.shape import to_shape
from segment_anything.utils.amg import build_point_grid, calculate_stability_score
from shapely import geometry as shp
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from sqlalchemy import select
from sqlalchemy.orm import Session
from torchvision.ops import nms

from app.core.config import Settings, get_settings
from app.imagery.storage import Storage, make_storage
from app.interop.labeling_config import parse_labeling_config
from app.jobs.runner import JobContext
from app.labels.between_dates import in_pixels_of
from app.ml.sam_windows import Window, window_for
from app.ml.vectorize import vectorize
from app.models.annotation import Prediction, Region, RegionSource
from app.models.observation import Observation, ObservationStatus, TaskState
from app.models.project import Project
from app.repositories.ground_truth import task_annotations
from app.repositories.prediction_writer import PredictedPolygon, write_predictions
from app.schemas.sam import (
    EmbeddingManifest,
    SamCarryForwardParams,
    SamCarryForwardResult,
    SamPrelabelParams,
    SamPrelabelResult,
)
from app.services import models as models_service
from app.services import sam_embeddings as store
from workers.ml.sam import model as sam_model
from workers.ml.sam.embed import embed_observation, publish_decoder
from workers.ml.sam.encode import pick_device
from workers.ml.sam.prompting import decode, full_masks, low_res_boxes, predictor_for

logger = logging.getLogger(__name__)

POINTS_PER_BATCH = 64
MAX_MASKS_PER_WINDOW = 100
MAX_MASKS = 500
CLASS_IOU = 0.5  # a mask takes the class of the previous date's region it matches at least this well


def prelabel_version(loaded: sam_model.LoadedSam) -> str:
    return f"sam-{loaded.model_type}-{loaded.checkpoint_hash}"


def carry_version(loaded: sam_model.LoadedSam) -> str:
    return f"sam-carry-{loaded.model_type}-{loaded.checkpoint_hash}"


@dataclass(frozen=True)
class _Mask:
    window: Window
    low_res: torch.Tensor  # (256, 256) logits
    score: float  # SAM's predicted IoU
    box: torch.Tensor  # x0, y0, x1, y1 in image pixels


def _current_manifest(
    session: Session,
    storage: Storage,
    settings: Settings,
    loaded: sam_model.LoadedSam,
    observation: Observation,
) -> EmbeddingManifest:
    """The observation's embeddings, computed first when they are missing or stale."""
    embed_observation(session, storage, settings, loaded, observation, force=False)
    manifest = store.read_manifest(storage, observation)
    assert manifest is not None
    return manifest


def _already(session: Session, observation_id: uuid.UUID, model_version: str) -> bool:
    return (
        session.scalar(
            select(Prediction.id).where(
                Prediction.observation_id == observation_id, Prediction.model_version == model_version
            )
        )
        is not None
    )


def previous_ground_truth(
    session: Session, observation: Observation
) -> tuple[Observation, list[Region]] | None:
    """The site's previous observation (the highest index below this one) and its ground truth's regions,
    when it is approved; None otherwise."""
    previous = session.scalars(
        select(Observation)
        .where(Observation.site_id == observation.site_id, Observation.index < observation.index)
        .order_by(Observation.index.desc())
        .limit(1)
    ).first()
    if previous is None or previous.task_state is not TaskState.APPROVED:
        return None
    truth = task_annotations(session, [previous.id]).get(previous.id)
    if truth is None:
        return previous, []
    regions = session.scalars(
        select(Region).where(Region.annotation_id == truth, Region.deleted_at.is_(None)).order_by(Region.id)
    ).all()
    return previous, list(regions)


def champion_references(session: Session, observation: Observation) -> list[tuple[str | None, BaseGeometry]]:
    """The project's champion model's predicted regions on the observation, to class masks the previous
    date cannot (a first date, a new pit)."""
    champion = models_service.champion(session, observation.project_id)
    if champion is None:
        return []
    regions = session.scalars(
        select(Region)
        .join(Prediction, Prediction.id == Region.prediction_id)
        .where(Prediction.observation_id == observation.id, Prediction.model_version == champion.name)
        .order_by(Region.id)
    ).all()
    return [(r.label, to_shape(r.geom)) for r in regions if r.label is not None]


def _shapes_here(
    observation: Observation, previous: Observation, regions: list[Region]
) -> list[tuple[Region, BaseGeometry]]:
    """The previous date's regions in this observation's pixels (those that fall on it)."""
    moved = [(r, in_pixels_of(to_shape(r.geom), previous, observation)) for r in regions]
    return [(r, g) for r, g in moved if not g.is_empty and g.area > 0]


def class_from_previous(
    polygon: BaseGeometry, references: list[tuple[str | None, BaseGeometry]]
) -> str | None:
    """The class of the previous date's region the mask matches best, if it matches it well enough."""
    if not references:
        return None
    label, best = max(
        ((label, _iou(polygon, shape)) for label, shape in references), key=lambda pair: pair[1]
    )
    return label if best >= CLASS_IOU else None


def _iou(a: BaseGeometry, b: BaseGeometry) -> float:
    union = a.union(b).area
    return float(a.intersection(b).area / union) if union else 0.0


def _polygon(mask: np.ndarray, window: Window, settings: Settings) -> shp.MultiPolygon | None:
    parts = vectorize(
        mask,
        min_area_px=settings.sam.min_area_px,
        simplify_px=settings.sam.simplify_px,
        offset=(window.x, window.y),
    )
    if not parts:
        return None
    merged = unary_union([p.geometry for p in parts])
    polygons = (
        [merged]
        if isinstance(merged, shp.Polygon)
        else [g for g in getattr(merged, "geoms", []) if isinstance(g, shp.Polygon)]
    )
    return shp.MultiPolygon(polygons) if polygons else None


def _grid_masks(
    loaded: sam_model.LoadedSam,
    storage: Storage,
    manifest: EmbeddingManifest,
    params: SamPrelabelParams,
    settings: Settings,
) -> list[tuple[_Mask, np.ndarray]]:
    """Every window prompted with the point grid; the masks that pass SAM's thresholds and the NMS."""
    sam = settings.sam
    per_side = params.points_per_side or sam.points_per_side
    iou_min = sam.pred_iou_thresh if params.pred_iou_thresh is None else params.pred_iou_thresh
    stability_min = (
        sam.stability_score_thresh if params.stability_score_thresh is None else params.stability_score_thresh
    )
    kept: list[_Mask] = []
    for stored in manifest.windows:
        window = stored.window()
        predictor = predictor_for(loaded.model, storage, manifest, window)
        height, width = window.input_size
        grid = build_point_grid(per_side) * np.array([width, height])
        found: list[_Mask] = []
        for start in range(0, len(grid), POINTS_PER_BATCH):
            points = grid[start : start + POINTS_PER_BATCH][:, None, :]
            low_res, iou = decode(predictor, points, np.ones(points.shape[:2]), None, multimask=True)
            low_res, iou = low_res.flatten(0, 1), iou.flatten(0, 1)
            stability = calculate_stability_score(low_res, loaded.model.mask_threshold, 1.0)
            keep = (iou >= iou_min) & (stability >= stability_min) & ((low_res > 0).flatten(1).any(1))
            boxes = low_res_boxes(low_res[keep], window)
            found += [
                _Mask(window, m, float(s), b) for m, s, b in zip(low_res[keep], iou[keep], boxes, strict=True)
            ]
        kept += _nms(found, sam.box_nms_thresh, MAX_MASKS_PER_WINDOW)
    survivors = _nms(kept, sam.box_nms_thresh, MAX_MASKS)
    result = []
    for window in {m.window for m in survivors}:
        of_window = [m for m in survivors if m.window == window]
        predictor = predictor_for(loaded.model, storage, manifest, window)
        masks = full_masks(predictor, torch.stack([m.low_res for m in of_window]))
        result += list(zip(of_window, masks, strict=True))
    return result


def _nms(masks: list[_Mask], threshold: float, limit: int) -> list[_Mask]:
    if not masks:
        return []
    boxes = torch.stack([m.box for m in masks]).float().cpu()
    scores = torch.tensor([m.score for m in masks])
    keep = nms(boxes, scores, threshold)[:limit]
    return [masks[int(i)] for i in keep]


def prelabel(ctx: JobContext[SamPrelabelParams]) -> SamPrelabelResult:
    settings = get_settings()
    storage = make_storage(settings.storage)
    loaded = sam_model.get(settings.sam)
    loaded.model.to(pick_device(settings.sam))
    publish_decoder(storage, loaded)
    version = prelabel_version(loaded)
    done = skipped = predictions = regions = 0
    ids = ctx.params.observation_ids
    for number, observation_id in enumerate(ids, start=1):
        ctx.progress((number - 1) / len(ids), f"pre-labelling image {number} of {len(ids)}")
        observation = ctx.session.get(Observation, observation_id)
        if (
            observation is None
            or observation.status is not ObservationStatus.READY
            or _already(ctx.session, observation_id, version)
        ):
            skipped += 1
            continue
        project = ctx.session.get(Project, observation.project_id)
        assert project is not None
        manifest = _current_manifest(ctx.session, storage, settings, loaded, observation)
        earlier = previous_ground_truth(ctx.session, observation)
        references = [(r.label, g) for r, g in (_shapes_here(observation, *earlier) if earlier else [])]
        from_model = champion_references(ctx.session, observation)
        polygons = []
        for found, mask in _grid_masks(loaded, storage, manifest, ctx.params, settings):
            ctx.check()
            polygon = _polygon(mask, found.window, settings)
            if polygon is None:
                continue
            label = class_from_previous(polygon, references) or class_from_previous(polygon, from_model)
            polygons.append(
                PredictedPolygon(
                    polygon, label, score=min(max(found.score, 0.0), 1.0), source=RegionSource.SAM
                )
            )
        classes = parse_labeling_config(project.labeling_config).class_names
        write_predictions(ctx.session, observation, version, polygons, classes=classes)
        ctx.session.commit()
        done += 1
        predictions += 1
        regions += len(polygons)
    ctx.progress(1.0, f"{regions} pre-label(s) on {done} image(s), {skipped} skipped")
    return SamPrelabelResult(
        observations=done, skipped=skipped, predictions=predictions, regions=regions, model_version=version
    )


def carry_forward(ctx: JobContext[SamCarryForwardParams]) -> SamCarryForwardResult:
    settings = get_settings()
    storage = make_storage(settings.storage)
    loaded = sam_model.get(settings.sam)
    loaded.model.to(pick_device(settings.sam))
    publish_decoder(storage, loaded)
    version = carry_version(loaded)
    done = skipped = regions = vanished = 0
    ids = ctx.params.observation_ids
    for number, observation_id in enumerate(ids, start=1):
        ctx.progress((number - 1) / len(ids), f"carrying labels forward to image {number} of {len(ids)}")
        observation = ctx.session.get(Observation, observation_id)
        earlier = previous_ground_truth(ctx.session, observation) if observation is not None else None
        if (
            observation is None
            or observation.status is not ObservationStatus.READY
            or earlier is None
            or _already(ctx.session, observation_id, version)
        ):
            skipped += 1  # nothing approved on the date before, or carried already
            continue
        project = ctx.session.get(Project, observation.project_id)
        assert project is not None
        manifest = _current_manifest(ctx.session, storage, settings, loaded, observation)
        windows = [w.window() for w in manifest.windows]
        polygons = []
        for region, shape in _shapes_here(observation, *earlier):
            ctx.check()
            carried = _carry(loaded, storage, manifest, windows, shape, settings)
            if carried is None:
                vanished += 1
                continue
            polygon, score = carried
            change = 1.0 - _iou(shape, polygon)
            polygons.append(
                PredictedPolygon(
                    polygon,
                    region.label,
                    score=score,
                    source=RegionSource.SAM,
                    carried_from=region.id,
                    change_score=min(max(change, 0.0), 1.0),
                )
            )
        classes = parse_labeling_config(project.labeling_config).class_names
        write_predictions(ctx.session, observation, version, polygons, classes=classes)
        ctx.session.commit()
        done += 1
        regions += len(polygons)
    ctx.progress(1.0, f"{regions} region(s) carried forward to {done} image(s), {skipped} skipped")
    return SamCarryForwardResult(
        observations=done, skipped=skipped, regions=regions, vanished=vanished, model_version=version
    )


def _carry(
    loaded: sam_model.LoadedSam,
    storage: Storage,
    manifest: EmbeddingManifest,
    windows: list[Window],
    shape: BaseGeometry,
    settings: Settings,
) -> tuple[shp.MultiPolygon, float] | None:
    """SAM prompted with the previous shape's box and up to three points inside it."""
    window = window_for(windows, shape.bounds)
    inside = [
        shape.representative_point(),
        shape.centroid,
        shape.buffer(-max(shape.length / 50, 1)).representative_point(),
    ]
    points = [p for p in inside if not p.is_empty and shape.contains(p)][:3] or [shape.representative_point()]
    coords = np.array([[window.to_input(p.x, p.y) for p in points]])
    x0, y0, x1, y1 = shape.bounds
    box = np.array([[*window.to_input(x0, y0), *window.to_input(x1, y1)]])
    predictor = predictor_for(loaded.model, storage, manifest, window)
    low_res, iou = decode(predictor, coords, np.ones(coords.shape[:2]), box, multimask=False)
    mask = full_masks(predictor, low_res[:, 0])[0]
    polygon = _polygon(mask, window, settings)
    return (polygon, min(max(float(iou[0, 0]), 0.0), 1.0)) if polygon is not None else None
