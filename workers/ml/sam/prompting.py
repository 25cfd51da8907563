"""SAM's prompt encoder and mask decoder in torch on a stored window embedding (the batch jobs; single clicks
go through the ONNX decoder in the API): a predictor set to the window, batched prompts in the window's input
frame, low-resolution logits first and full-resolution masks only for what survives."""

from __future__ import annotations

import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.predictor import SamPredictor
from segment_anything.utils.amg import batched_mask_to_box

from app.imagery.storage import Storage
from app.ml.sam_windows import Window
from app.schemas.sam import EmbeddingManifest
from app.services.sam_embeddings import load_embedding


def predictor_for(sam: Sam, storage: Storage, manifest: EmbeddingManifest, window: Window) -> SamPredictor:
    """A SamPredictor whose image is the window, from its stored embedding (no encoder pass)."""
    (stored,) = [w for w in manifest.windows if w.index == window.index]
    predictor = SamPredictor(sam)
    predictor.reset_image()
    predictor.features = torch.as_tensor(load_embedding(storage, stored.key), device=sam.device)
    predictor.original_size = (window.height, window.width)
    predictor.input_size = window.input_size
    predictor.is_image_set = True
    return predictor


def decode(
    predictor: SamPredictor,
    points: np.ndarray | None,
    labels: np.ndarray | None,
    boxes: np.ndarray | None,
    *,
    multimask: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-resolution mask logits (B, C, 256, 256) and predicted IoUs (B, C) for B prompts.

    Args:
        points, labels: (B, N, 2) and (B, N) in the window's input frame, or None.
        boxes: (B, 4) x0, y0, x1, y1 in the window's input frame, or None.
    """
    device = predictor.device
    coords = torch.as_tensor(points, dtype=torch.float, device=device) if points is not None else None
    point_labels = torch.as_tensor(labels, dtype=torch.int, device=device) if labels is not None else None
    box = torch.as_tensor(boxes, dtype=torch.float, device=device) if boxes is not None else None
    with torch.inference_mode():
        _, iou, low_res = predictor.predict_torch(
            coords, point_labels, box, multimask_output=multimask, return_logits=True
        )
    return low_res, iou


def full_masks(predictor: SamPredictor, low_res: torch.Tensor) -> np.ndarray:
    """(K, 256, 256) low-resolution logits as (K, height, width) boolean masks of the window."""
    with torch.inference_mode():
        masks = predictor.model.postprocess_masks(
            low_res[:, None], predictor.input_size, predictor.original_size
        )
    found: np.ndarray = (masks[:, 0] > predictor.model.mask_threshold).cpu().numpy()
    return found


def low_res_boxes(low_res: torch.Tensor, window: Window) -> torch.Tensor:
    """Boxes (x0, y0, x1, y1) of low-resolution masks, in the image's pixels."""
    boxes = batched_mask_to_box(low_res > 0.0).float()  # in the 256 x 256 frame of the padded input
    per_pixel = 1024 / 256 / window.scale  # one low-res pixel in source pixels
    offset = torch.tensor([window.x, window.y, window.x, window.y], device=boxes.device)
    moved: torch.Tensor = boxes * per_pixel + offset
    return moved
