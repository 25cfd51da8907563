"""One epoch of training and one evaluation, with torch.amp: BCE + soft Dice over the pixels that count
(the ignore mask leaves nodata and padding out), scored with the shared per-class counts (app.ml.metrics)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812 (the usual name)
from torch.utils.data import DataLoader

from app.ml.metrics import Counts, count
from workers.ml.training.spec import CountsWire

# Batches of (image, masks, ignore); a DataLoader over a TensorDataset (tests, benchmarks) yields the same.
Batches = DataLoader[Any]


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    if device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def loss_of(logits: torch.Tensor, masks: torch.Tensor, ignore: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice (per class, then averaged), over valid pixels only."""
    weight = (~ignore).unsqueeze(1).to(logits.dtype).expand_as(masks)
    valid = weight.sum().clamp(min=1.0)
    bce = (
        F.binary_cross_entropy_with_logits(logits.float(), masks, weight=weight.float(), reduction="sum")
        / valid
    )
    probabilities = torch.sigmoid(logits.float()) * weight
    truth = masks * weight
    intersection = (probabilities * truth).sum(dim=(0, 2, 3))
    total = (probabilities + truth).sum(dim=(0, 2, 3))
    dice = 1 - (2 * intersection + 1.0) / (total + 1.0)
    return bce + dice.mean()


def train_epoch(
    model: torch.nn.Module,
    loader: Batches,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> float:
    """Train over the loader once; the mean loss."""
    model.train()
    total, batches = 0.0, 0
    for images, masks, ignore in loader:
        images, masks, ignore = images.to(device), masks.to(device), ignore.to(device)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device):
            logits = model(images)
        loss = loss_of(logits, masks, ignore)
        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        scaler.step(optimizer)
        scaler.update()
        total += float(loss.detach())
        batches += 1
    return total / max(batches, 1)


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    loader: Batches,
    device: torch.device,
    classes: int,
) -> tuple[float | None, Counts]:
    """The mean loss and the summed per-class counts (a pixel is in a class when its probability > 0.5)."""
    model.eval()
    counts = Counts.zeros(classes)
    total, batches = 0.0, 0
    for images, masks, ignore in loader:
        images, masks, ignore = images.to(device), masks.to(device), ignore.to(device)
        with autocast(device):
            logits = model(images)
        total += float(loss_of(logits, masks, ignore))
        batches += 1
        predicted = (torch.sigmoid(logits.float()) > 0.5).cpu().numpy()
        truth = masks.cpu().numpy().astype(bool)
        ignored = ignore.cpu().numpy()
        for i in range(predicted.shape[0]):
            counts = counts + count(predicted[i], truth[i], ignore=ignored[i])
    return (total / batches if batches else None), counts


def counts_wire(counts: Counts) -> CountsWire:
    return CountsWire(
        tp=list(counts.true_positives), fp=list(counts.false_positives), fn=list(counts.false_negatives)
    )


def counts_of(wire: CountsWire) -> Counts:
    return Counts(tuple(wire.tp), tuple(wire.fp), tuple(wire.fn))
