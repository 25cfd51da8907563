"""SAM's image encoder over rendered windows, batched; bf16 (or fp16) autocast on CUDA, float32 on a CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from segment_anything.modeling import Sam

from app.core.config import SamSettings


def pick_device(settings: SamSettings) -> torch.device:
    if settings.device == "cuda" or (settings.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Mixed precision on CUDA (bf16 where the GPU has it, else fp16); none on a CPU."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def encode(
    sam: Sam, images: Sequence[np.ndarray], device: torch.device, batch_size: int
) -> Iterator[np.ndarray]:
    """The (256, 64, 64) embedding of each image, in order.

    Args:
        images: (height, width, 3) uint8 RGB arrays whose longest side is the encoder's input size (1024):
            the windows as app.imagery.windows renders them; SAM pads them to a square itself.
    """
    size = sam.image_encoder.img_size
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        tensors = []
        for image in batch:
            if max(image.shape[:2]) != size:
                raise ValueError(f"a window must have a longest side of {size} px, not {image.shape[:2]}")
            pixels = torch.as_tensor(image, device=device).permute(2, 0, 1).float()
            tensors.append(sam.preprocess(pixels))  # normalised and padded to size x size
        with torch.inference_mode(), autocast(device):
            features = sam.image_encoder(torch.stack(tensors))
        for feature in features.float().cpu().numpy():
            yield feature.astype(np.float16)
