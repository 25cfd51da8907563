"""Where SAM looks: the windows of an image that get an embedding, and which window answers a prompt.

Tiles of ``1024 / zoom`` source pixels (overlapping, the last row and column moved back to end at the image's
edge) are resized to SAM's 1024 px input, so that at zoom 2 a 10 m Sentinel-2 pixel covers two input pixels;
one more window is the whole image (its longest side resized to 1024), for prompts larger than a tile. Pure
arithmetic: the encoder (workers/ml/sam) and the decoder (app/services/sam_decoder.py) share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.ml.chips import ChipGrid

ENCODER_SIZE = 1024  # SAM's input: the longest side, padded square
EMBEDDING_SIZE = 64  # the image embedding is 256 x 64 x 64
LOW_RES_MASK_SIZE = 256  # what the mask decoder takes as mask_input

WindowKind = Literal["tile", "full"]


@dataclass(frozen=True)
class Window:
    """A part of the image (source pixels) and how it is scaled into SAM's input."""

    index: int
    kind: WindowKind
    x: int
    y: int
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Input pixels per source pixel (SAM's ResizeLongestSide: the longest side becomes 1024)."""
        return ENCODER_SIZE / max(self.width, self.height)

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the resized window inside SAM's 1024 x 1024 input (the rest is padding)."""
        scale = self.scale
        return int(self.height * scale + 0.5), int(self.width * scale + 0.5)

    def contains(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return self.x <= x0 and self.y <= y0 and x1 <= self.x + self.width and y1 <= self.y + self.height

    def room(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """The smallest distance from the box to this window's edge (context around a prompt)."""
        return min(x0 - self.x, y0 - self.y, self.x + self.width - x1, self.y + self.height - y1)

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """Image pixel coordinates to the window's SAM input coordinates."""
        scale = self.scale
        return (x - self.x) * scale, (y - self.y) * scale


def plan_windows(width: int, height: int, *, zoom: float, overlap_px: int) -> list[Window]:
    """The windows of a ``width`` x ``height`` image: tiles at ``zoom`` (none when the whole image fits in
    one), then the full frame.

    Args:
        zoom: input pixels per source pixel in the tiles (1024 / zoom source pixels per tile side).
        overlap_px: how much neighbouring tiles share, in source pixels.
    """
    if width < 1 or height < 1:
        raise ValueError(f"an image of {width} x {height} pixels has no windows")
    if zoom < 1:
        raise ValueError(f"zoom must be at least 1, not {zoom}")
    side = max(int(ENCODER_SIZE / zoom), 1)
    windows: list[Window] = []
    if width > side or height > side:
        stride = max(side - overlap_px, 1)
        grid = ChipGrid(width, height, side, stride, edge="shift")
        for chip in grid:
            w, h = min(side, width - chip.x), min(side, height - chip.y)
            windows.append(Window(len(windows), "tile", chip.x, chip.y, w, h))
    windows.append(Window(len(windows), "full", 0, 0, width, height))
    return windows


def window_for(windows: list[Window], box: tuple[float, float, float, float]) -> Window:
    """The window that answers a prompt whose points and box span ``box`` (x0, y0, x1, y1, image pixels):
    the tile holding it with the most room around it, else the full frame."""
    x0, y0, x1, y1 = box
    tiles = [w for w in windows if w.kind == "tile" and w.contains(x0, y0, x1, y1)]
    if tiles:
        return max(tiles, key=lambda w: (w.room(x0, y0, x1, y1), -w.index))
    return next(w for w in windows if w.kind == "full")
