"""A dataset's chips as torch tensors: bands normalised with the dataset's statistics, masks, ignore mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from app.schemas.ml import BandStats, DatasetManifest, Split
from app.services.datasets import read_chip


def normalise(image: np.ndarray, stats: BandStats) -> np.ndarray:
    """(bands, H, W) as stored -> float32, each band minus its mean, over its standard deviation."""
    mean = np.asarray(stats.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(stats.std, dtype=np.float32)[:, None, None]
    normalised: np.ndarray = (image.astype(np.float32) - mean) / std
    return normalised


class Chips(TorchDataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """The chips of one split, read from a local copy of the dataset (``root`` holds the storage keys)."""

    def __init__(self, manifest: DatasetManifest, root: Path, split: Split, stats: BandStats) -> None:
        self.entries = [c for c in manifest.chips if c.split == split]
        self.root, self.stats = root, stats

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, masks, ignore = read_chip((self.root / self.entries[index].key).read_bytes())
        return (
            torch.from_numpy(normalise(image, self.stats)),
            torch.from_numpy(masks.astype(np.float32)),
            torch.from_numpy(ignore),
        )
