"""Hover maps: the masks SAM gives for a grid of single positive points over one embedded window, stored so
that the browser can preview the mask under the pointer without decoding (docs/adr/2026-12-03-sam-hover-
previews-from-a-point-grid.md). Torch-free: the GPU worker writes them, the tests read them, and
frontend/src/labeling/sam/hoverMap.ts is the browser's reader of the same format.

The format, little-endian:
- a header: ``MLHM``, the format's version (u8), 0 (u8), points per side (u16), the window's width and height
  in source pixels (u32 each), the number of masks (u32);
- one entry per grid point, row by row: where its runs start in the payload and how many bytes they take
  (u32 each), the mask's box ``x0, y0, x1, y1`` in window pixels (u32 each; ``x1`` and ``y1`` exclusive, all 0
  for an empty mask), its area in pixels (u32) and SAM's score for it (f32);
- the payload: each mask cropped to its box, row by row, as run lengths alternating between outside and
  inside (the first run is outside, and may be 0 long), each an unsigned LEB128 varint.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"MLHM"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sBBHIII")
_ENTRY = struct.Struct("<IIIIIIIf")


def grid_points(width: int, height: int, per_side: int) -> np.ndarray:
    """The grid's points in window pixels, (per_side^2, 2) as (x, y), row by row: the cells' centres."""
    steps = (np.arange(per_side) + 0.5) / per_side
    xs, ys = np.meshgrid(steps * width, steps * height)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


@dataclass(frozen=True)
class HoverEntry:
    offset: int
    length: int
    box: tuple[int, int, int, int]
    area: int
    score: float


@dataclass(frozen=True)
class HoverMap:
    per_side: int
    width: int
    height: int
    entries: list[HoverEntry]
    payload: bytes

    def mask(self, index: int) -> np.ndarray:
        """Grid point ``index``'s mask over the whole window, (height, width) bool."""
        entry = self.entries[index]
        out = np.zeros((self.height, self.width), dtype=bool)
        x0, y0, x1, y1 = entry.box
        if entry.area == 0:
            return out
        runs = _read_varints(self.payload[entry.offset : entry.offset + entry.length])
        flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
        out[y0:y1, x0:x1] = flat.reshape(y1 - y0, x1 - x0)
        return out


def encode(masks: np.ndarray, scores: np.ndarray, per_side: int) -> bytes:
    """``masks`` (per_side^2, height, width) bool, one per grid point in grid order, with their scores."""
    count, height, width = masks.shape
    if count != per_side * per_side or len(scores) != count:
        raise ValueError(f"{per_side} points per side make {per_side**2} masks, not {count}")
    entries: list[bytes] = []
    chunks: list[bytes] = []
    offset = 0
    for mask, score in zip(masks, scores, strict=True):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows) == 0:
            entries.append(_ENTRY.pack(offset, 0, 0, 0, 0, 0, 0, float(score)))
            continue
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        runs = _varints(_run_lengths(mask[y0:y1, x0:x1].ravel()))
        area = int(mask[y0:y1, x0:x1].sum())
        entries.append(_ENTRY.pack(offset, len(runs), x0, y0, x1, y1, area, float(score)))
        chunks.append(runs)
        offset += len(runs)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, per_side, width, height, count)
    return header + b"".join(entries) + b"".join(chunks)


def decode(data: bytes) -> HoverMap:
    if len(data) < _HEADER.size:
        raise ValueError("not a hover map: too short")
    magic, version, _, per_side, width, height, count = _HEADER.unpack_from(data)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError(f"not a hover map of format {FORMAT_VERSION} ({magic!r}, version {version})")
    entries = []
    for number in range(count):
        offset, length, x0, y0, x1, y1, area, score = _ENTRY.unpack_from(
            data, _HEADER.size + number * _ENTRY.size
        )
        entries.append(HoverEntry(offset, length, (x0, y0, x1, y1), area, score))
    payload = data[_HEADER.size + count * _ENTRY.size :]
    return HoverMap(per_side, width, height, entries, payload)


def _run_lengths(flat: np.ndarray) -> np.ndarray:
    """Lengths of the runs of a flat bool array, the first one of False (0 long when it starts True)."""
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [len(flat)]])
    runs = np.diff(bounds)
    return np.concatenate([[0], runs]) if flat[0] else runs


def _varints(values: np.ndarray) -> bytes:
    """Unsigned LEB128 of each value (vectorised: masks of random-weight models have many runs)."""
    v = values.astype(np.uint64)
    groups = np.stack([(v >> np.uint64(7 * k)) & np.uint64(0x7F) for k in range(5)], axis=1).astype(np.uint8)
    used = np.maximum(1, (np.stack([v >> np.uint64(7 * k) for k in range(5)], axis=1) > 0).sum(axis=1))
    keep = np.arange(5)[None, :] < used[:, None]
    groups[np.arange(5)[None, :] < (used - 1)[:, None]] |= 0x80
    return bytes(groups[keep].tobytes())


def _read_varints(data: bytes) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    values = np.zeros(len(ends), dtype=np.int64)
    start = 0
    for number, end in enumerate(ends.tolist()):
        value = 0
        for shift, byte in enumerate(raw[start : end + 1].tolist()):
            value |= (byte & 0x7F) << (7 * shift)
        values[number] = value
        start = end + 1
    return values
