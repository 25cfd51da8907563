"""Hover maps: the masks SAM gives for a grid of single positive points over one embedded window, stored so
that the browser can preview the mask under the pointer without decoding (docs/adr/2026-12-03-sam-hover-
previews-from-a-point-grid.md). Torch-free: the GPU worker writes them, the tests read them, and
frontend/src/labeling/sam/hoverMap.ts is the browser's reader of the same format.

The format, little-endian:
- a header: ``MLHM``, the format's version (u8), 0 (u8), points per side (u16), the window's width and height
  in source pixels (u32 each), the number of masks (u32);
- one entry per grid point, row by row: where its bytes start in the payload and how many there are (u32
  each), the mask's box ``x0, y0, x1, y1`` in window pixels (u32 each; ``x1`` and ``y1`` exclusive, all 0 for
  an empty mask), its area in pixels (u32) and SAM's score for it (f32);
- the payload: for each mask, the offset of each of its box's rows (u32, from the end of this table), then
  each row's spans inside the mask as pairs of unsigned LEB128 varints: the gap since the last span's end
  (or the box's left edge) and the span's length. A row is found without reading the rows before it, so
  whether a mask holds a pixel costs one row's spans however speckled the mask is.
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
        if entry.area == 0:
            return out
        x0, y0, _, y1 = entry.box
        chunk = self.payload[entry.offset : entry.offset + entry.length]
        rows = y1 - y0
        offsets = [*np.frombuffer(chunk[: 4 * rows], dtype="<u4").tolist(), entry.length - 4 * rows]
        for row in range(rows):
            spans = _read_varints(chunk[4 * rows + offsets[row] : 4 * rows + offsets[row + 1]])
            x = x0
            for gap, length in zip(spans[0::2], spans[1::2], strict=True):
                x += int(gap)
                out[y0 + row, x : x + int(length)] = True
                x += int(length)
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
        box = mask[y0:y1, x0:x1]
        chunk = _rows(box)
        entries.append(_ENTRY.pack(offset, len(chunk), x0, y0, x1, y1, int(box.sum()), float(score)))
        chunks.append(chunk)
        offset += len(chunk)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, per_side, width, height, count)
    return header + b"".join(entries) + b"".join(chunks)


def _rows(box: np.ndarray) -> bytes:
    """A mask's box as its row offsets and each row's (gap, length) spans (vectorised: the masks of random-
    weight models are speckle, with thousands of spans)."""
    height, width = box.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = box
    changes = np.diff(padded, axis=1)  # +1 where a span starts, -1 where it ends (column after it)
    starts_r, starts_c = np.nonzero(changes == 1)
    _, ends_c = np.nonzero(changes == -1)  # row by row, in the same order as the starts
    previous_end = np.zeros_like(ends_c)
    same_row = np.concatenate([[False], starts_r[1:] == starts_r[:-1]])
    previous_end[1:] = ends_c[:-1]
    gaps = starts_c - np.where(same_row, previous_end, 0)
    values = np.stack([gaps, ends_c - starts_c], axis=1).ravel()
    spans, sizes = _varints(values)
    row_bytes = np.bincount(np.repeat(starts_r, 2), weights=sizes, minlength=height).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(row_bytes)[:-1]]).astype("<u4")
    return offsets.tobytes() + spans


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


def _varints(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Unsigned LEB128 of each value, and how many bytes each took (vectorised: masks of random-weight
    models have many spans)."""
    v = values.astype(np.uint64)
    shifted = np.stack([v >> np.uint64(7 * k) for k in range(5)], axis=1)  # 5 groups hold a u32
    used: np.ndarray = np.maximum(1, (shifted > 0).sum(axis=1))
    groups = (shifted & np.uint64(0x7F)).astype(np.uint8)
    groups[np.arange(5)[None, :] < (used - 1)[:, None]] |= 0x80  # more groups follow
    return bytes(groups[np.arange(5)[None, :] < used[:, None]].tobytes()), used


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
