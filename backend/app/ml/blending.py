"""Tiled inference without seams: each tile's probabilities are weighted by a window that falls off towards
its edges (where a network sees the least context) and summed, then divided by the summed weights; and the
per-pixel uncertainty of the result. Torch-free, so that the GPU workers and the tests share it."""

from __future__ import annotations

import numpy as np

from app.ml.chips import Chip

_FLOOR = 1e-3  # a tile's own edge pixels still count where no other tile covers them (the image's edge)


def blend_window(size: int) -> np.ndarray:
    """(size, size) weights: a pyramid, 1 in the middle, falling linearly to a small floor at the edges."""
    ramp = 1 - np.abs(np.linspace(-1, 1, size, dtype=np.float32))
    ramp = np.maximum(ramp, _FLOOR)
    weights: np.ndarray = np.outer(ramp, ramp)
    return weights


class Blender:
    """Sums tiles of per-class probabilities over an image of ``classes`` x ``height`` x ``width``."""

    def __init__(self, classes: int, height: int, width: int, tile: int) -> None:
        self.total = np.zeros((classes, height, width), dtype=np.float32)
        self.weight = np.zeros((height, width), dtype=np.float32)
        self.window = blend_window(tile)
        self.height, self.width = height, width

    def add(self, chip: Chip, probabilities: np.ndarray) -> None:
        """``probabilities``: (classes, tile, tile) for the chip; the part beyond the image is dropped."""
        rows = min(chip.size, self.height - chip.y)
        cols = min(chip.size, self.width - chip.x)
        weights = self.window[:rows, :cols]
        self.total[:, chip.y : chip.y + rows, chip.x : chip.x + cols] += (
            probabilities[:, :rows, :cols] * weights
        )
        self.weight[chip.y : chip.y + rows, chip.x : chip.x + cols] += weights

    def result(self) -> np.ndarray:
        """(classes, height, width) probabilities (0 where no tile reached, which a grid never leaves)."""
        blended: np.ndarray = self.total / np.maximum(self.weight, 1e-12)
        return blended


def mean_entropy(probabilities: np.ndarray, valid: np.ndarray) -> float | None:
    """The mean binary entropy (0: certain, 1: a coin toss) over the valid pixels and the classes; None
    when no pixel is valid."""
    if not valid.any():
        return None
    p = np.clip(probabilities[:, valid].astype(np.float64), 1e-7, 1 - 1e-7)
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return float(entropy.mean())
