"""A grid of square chips over an image, counted before it is walked, so that every job that cuts an
image (the masks export, tiled inference, training data) shares one rule for where chips lie.

Pixel offsets are (x, y) = (column, row) from the top-left corner, as everywhere in MineLabel. Along each
axis windows start at 0, stride, 2 * stride, ... and there are as few as cover the image; the last one
then depends on the edge policy:

- ``pad``: it starts on the stride like the others and reaches beyond the image (the caller pads it, e.g.
  with background or a boundless read). With stride == size this is the regular S x S grid of the masks
  export: chip (r, c) starts at (c * S, r * S).
- ``shift``: it is moved back so that it ends exactly at the image's edge (it overlaps its neighbour
  more), so that tiled inference never feeds padding to a model. An image smaller than a chip along an
  axis gets one window there, at 0, still ``size`` long: models want a fixed input size, so that one
  window is padded like ``pad``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rasterio.windows import Window

EdgePolicy = Literal["pad", "shift"]


@dataclass(frozen=True)
class Chip:
    """One window of a grid: its place in the grid and in the image (pixels)."""

    row: int
    col: int
    x: int  # column offset of the chip's top-left pixel in the image
    y: int  # row offset
    size: int

    @property
    def window(self) -> Window:
        """The chip as a rasterio window (it may reach beyond the image; read it boundless)."""
        return Window(self.x, self.y, self.size, self.size)


@dataclass(frozen=True)
class ChipGrid:
    """Square windows of ``size`` px every ``stride`` px (overlap = size - stride) over an image.

    Args:
        width, height: the image's size in pixels (at least 1).
        size: the chip's side in pixels (at least 1).
        stride: the step between chips, 1 to ``size``; None means ``size`` (no overlap).
        edge: ``pad`` or ``shift``, what the last row and column do (see the module's docstring).

    Raises:
        ValueError: an argument outside those ranges.
    """

    width: int
    height: int
    size: int
    stride: int | None = None
    edge: EdgePolicy = "pad"

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"The image must be at least 1 x 1 px, not {self.width} x {self.height}.")
        if self.size < 1:
            raise ValueError(f"The chip size must be at least 1 px, not {self.size}.")
        if not 1 <= self.step <= self.size:
            raise ValueError(
                f"The stride must be between 1 and the chip size ({self.size}) px, not {self.stride}."
            )
        if self.edge not in ("pad", "shift"):
            raise ValueError(f"The edge policy must be 'pad' or 'shift', not {self.edge!r}.")

    @property
    def step(self) -> int:
        """The stride in pixels (``size`` when none was given)."""
        return self.size if self.stride is None else self.stride

    @property
    def rows(self) -> int:
        """The number of chip rows."""
        return _count(self.height, self.size, self.step)

    @property
    def cols(self) -> int:
        """The number of chip columns."""
        return _count(self.width, self.size, self.step)

    @property
    def count(self) -> int:
        """The number of chips, known before the grid is walked (for a job's progress)."""
        return self.rows * self.cols

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Chip]:
        """The chips row by row, left to right."""
        xs = _starts(self.width, self.size, self.step, self.edge)
        ys = _starts(self.height, self.size, self.step, self.edge)
        for r, y in enumerate(ys):
            for c, x in enumerate(xs):
                yield Chip(r, c, x, y, self.size)

    def windows(self) -> Iterator[Window]:
        """The chips as rasterio windows, in the same order as iterating the grid."""
        for chip in self:
            yield chip.window


def cut(array: np.ndarray, chip: Chip, *, fill: float = 0) -> np.ndarray:
    """The chip's pixels of an image-sized array, padded with ``fill`` where the chip reaches beyond it.

    Args:
        array: shape (..., height, width), e.g. a mask (H, W) or bands (C, H, W).
        chip: a chip of a grid over that array's image.
        fill: the value of the padding.

    Returns:
        A new array of shape (..., size, size) and the input's dtype.
    """
    height, width = array.shape[-2:]
    out = np.full((*array.shape[:-2], chip.size, chip.size), fill, dtype=array.dtype)
    rows, cols = min(chip.size, height - chip.y), min(chip.size, width - chip.x)
    out[..., :rows, :cols] = array[..., chip.y : chip.y + rows, chip.x : chip.x + cols]
    return out


def _count(extent: int, size: int, step: int) -> int:
    # As few windows as cover the extent: the last starts at or before extent - size. Both policies
    # have the same count; they differ only in where the last window starts.
    if extent <= size:
        return 1
    return -(-(extent - size) // step) + 1


def _starts(extent: int, size: int, step: int, edge: EdgePolicy) -> list[int]:
    starts = [i * step for i in range(_count(extent, size, step))]
    if edge == "shift" and extent > size:
        starts[-1] = extent - size
    return starts
