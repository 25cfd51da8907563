"""COCO's run-length encoded masks (the ``iscrowd`` segmentations), decoded without pycocotools.

A mask of ``size`` [height, width] is read in column-major order (down the first column, then the next)
as alternating runs of 0s and 1s, starting with 0s (a first count of 0 when the mask starts with a 1).
``counts`` is either that list of integers ("uncompressed RLE", as CVAT writes it) or pycocotools'
compressed string: each count as 5-bit groups, least significant first, each group plus 48 as an ASCII
character, 0x20 marking "more groups follow" and 0x10 of the last group the sign; from the fourth count on,
what is stored is the difference to the count two places before (``rleToString``/``rleFrString`` in
pycocotools' maskApi.c).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class RleError(ValueError):
    """An RLE that cannot be a mask of its size; the message says why."""


@dataclass(frozen=True)
class CroppedMask:
    """A decoded mask cut to the rows and columns that hold its pixels."""

    mask: np.ndarray  # bool, shape (rows, columns)
    offset: tuple[int, int]  # (x, y): column and row of mask[0, 0] in the full mask
    pixels: int  # how many pixels are set


def counts_from_string(text: str) -> list[int]:
    """pycocotools' compressed ``counts`` string -> the run lengths.

    Raises:
        RleError: a character outside the code's range, a string that ends inside a count, or a negative
            run length.
    """
    counts: list[int] = []
    position = 0
    while position < len(text):
        value = 0
        shift = 0
        more = True
        while more:
            if position >= len(text):
                raise RleError("the compressed counts end in the middle of a number")
            code = ord(text[position]) - 48
            if not 0 <= code < 64:
                raise RleError(f"character {text[position]!r} at {position} is not of COCO's RLE code")
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        if value < 0:
            raise RleError(f"run {len(counts)} has a negative length ({value})")
        counts.append(value)
    return counts


def counts_to_string(counts: list[int]) -> str:
    """The run lengths -> pycocotools' compressed string (the inverse of ``counts_from_string``)."""
    characters = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            code = value & 0x1F
            value >>= 5
            more = value != -1 if code & 0x10 else value != 0
            if more:
                code |= 0x20
            characters.append(chr(code + 48))
    return "".join(characters)


def decode(counts: list[int], height: int, width: int) -> CroppedMask:
    """The set pixels of an RLE mask, cropped to their bounding box (memory: the box's columns only).

    Args:
        counts: run lengths, 0s first; they must add up to ``height * width``.
        height, width: the mask's ``size``.

    Raises:
        RleError: negative counts, a total that is not height x width, or no pixel set.
    """
    if height <= 0 or width <= 0:
        raise RleError(f"size {height} x {width} is not a mask size")
    runs = np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any():
        raise RleError("counts must be non-negative integers")
    total = int(runs.sum())
    if total != height * width:
        raise RleError(
            f"counts add up to {total:,} pixels, not {height} x {width} = {height * width:,} (its size)"
        )
    ends = np.cumsum(runs)
    starts = ends - runs
    ones = np.arange(len(runs)) % 2 == 1
    ones &= runs > 0
    if not ones.any():
        raise RleError("the mask is empty (no pixel is set)")
    first, last = int(starts[ones][0]), int(ends[ones][-1])
    column0, column1 = first // height, (last - 1) // height
    base = column0 * height
    span = (column1 - column0 + 1) * height
    edges = np.zeros(span + 1, dtype=np.int32)
    np.add.at(edges, starts[ones] - base, 1)
    np.add.at(edges, ends[ones] - base, -1)
    columns = (np.cumsum(edges[:-1]) > 0).reshape(column1 - column0 + 1, height).T  # rows x columns
    set_rows = np.flatnonzero(columns.any(axis=1))
    row0, row1 = int(set_rows[0]), int(set_rows[-1])
    mask = np.ascontiguousarray(columns[row0 : row1 + 1])
    return CroppedMask(mask=mask, offset=(column0, row0), pixels=int(runs[ones].sum()))
