"""The segmentation model: segmentation-models-pytorch's U-Net, built in one call; weights are never
downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import segmentation_models_pytorch as smp
import torch
from pydantic import BaseModel


class Architecture(BaseModel):
    """What is needed to build the network again (kept in every checkpoint)."""

    encoder: str
    encoder_depth: int
    in_channels: int
    classes: int


DECODER_CHANNELS = (256, 128, 64, 32, 16)


def build(arch: Architecture, encoder_weights: Path | None = None) -> torch.nn.Module:
    """A U-Net with one sigmoid channel per class (multi-label); ``encoder_weights`` is a local file of the
    encoder's state dict (ImageNet weights a user downloaded), else the encoder starts random."""
    model = smp.Unet(
        encoder_name=arch.encoder,
        encoder_depth=arch.encoder_depth,
        encoder_weights=None,
        decoder_channels=DECODER_CHANNELS[-arch.encoder_depth :],
        in_channels=arch.in_channels,
        classes=arch.classes,
    )
    if encoder_weights is not None:
        state = torch.load(encoder_weights, map_location="cpu", weights_only=True)
        model.encoder.load_state_dict(state, strict=False)
    return cast(torch.nn.Module, model)
