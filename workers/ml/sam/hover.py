"""A window's hover map: the mask of each point of a grid, decoded by the same module that is exported to
ONNX, so that a preview from the map is what the browser's decode of that point gives (app/ml/sam_hover.py,
docs/adr/2026-12-03-sam-hover-previews-from-a-point-grid.md)."""

from __future__ import annotations

import numpy as np
import torch
from segment_anything.modeling import Sam

from app.ml import sam_hover
from app.ml.sam_windows import LOW_RES_MASK_SIZE, Window
from workers.ml.sam.onnx_export import DecoderForOnnx

# Points decoded per forward pass: each one's mask is upscaled to the window's size (a 512 x 512 float map
# for a tile at zoom 2), so a batch of 64 holds ~64 MiB of logits.
POINTS_PER_BATCH = 64


def hover_map(sam: Sam, embedding: np.ndarray, window: Window, per_side: int, device: torch.device) -> bytes:
    """``embedding``: the window's (256, 64, 64) embedding as stored (float16)."""
    decoder = DecoderForOnnx(sam, return_single_mask=True).to(device).eval()
    image = torch.as_tensor(embedding.astype(np.float32), device=device)[None]
    points = sam_hover.grid_points(window.width, window.height, per_side) * window.scale
    mask_input = torch.zeros(1, 1, LOW_RES_MASK_SIZE, LOW_RES_MASK_SIZE, device=device)
    no_mask = torch.zeros(1, device=device)
    size = torch.tensor([float(window.height), float(window.width)], device=device)
    masks: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for start in range(0, len(points), POINTS_PER_BATCH):
        batch = torch.as_tensor(points[start : start + POINTS_PER_BATCH], dtype=torch.float32, device=device)
        # One positive point and SAM's padding point (label -1), as the browser asks for a hover.
        coords = torch.stack([batch, torch.zeros_like(batch)], dim=1)
        labels = torch.tensor([[1.0, -1.0]], device=device).expand(len(batch), 2)
        # float32, no autocast: the browser's decoder runs in float32, and the preview should be its answer.
        with torch.inference_mode():
            logits, iou, _ = decoder(image, coords, labels, mask_input, no_mask, size)
        masks.append((logits[:, 0] > 0).cpu().numpy())
        scores.append(iou[:, 0].cpu().numpy())
    return sam_hover.encode(np.concatenate(masks), np.concatenate(scores), per_side)
