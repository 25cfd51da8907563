"""The chip grid: counts known before iterating, offsets of both edge policies (hand-computed), argument
checks, rasterio windows, and cutting chips out of an array with padding."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from app.ml.chips import Chip, ChipGrid, EdgePolicy, cut


def offsets(grid: ChipGrid) -> list[tuple[int, int, int, int]]:
    return [(chip.row, chip.col, chip.x, chip.y) for chip in grid]


def test_pad_without_overlap_is_the_masks_exports_grid() -> None:
    grid = ChipGrid(200, 200, 64)
    # Counted before anything is iterated: ceil(200 / 64) = 4 per axis.
    assert (grid.rows, grid.cols, grid.count, len(grid)) == (4, 4, 16, 16)
    chips = list(grid)
    assert [(c.row, c.col) for c in chips[:5]] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]  # row by row
    assert all((c.x, c.y) == (c.col * 64, c.row * 64) and c.size == 64 for c in chips)
    assert chips[-1] == Chip(row=3, col=3, x=192, y=192, size=64)  # reaches 56 px beyond the image


def test_a_wide_image_has_more_columns_than_rows() -> None:
    grid = ChipGrid(width=300, height=100, size=100)
    assert (grid.rows, grid.cols) == (1, 3)
    assert offsets(grid) == [(0, 0, 0, 0), (0, 1, 100, 0), (0, 2, 200, 0)]


@pytest.mark.parametrize(
    ("edge", "xs"),
    [("pad", [0, 32, 64]), ("shift", [0, 32, 36])],  # 100 px, 64 px chips every 32 px
)
def test_overlapping_chips_along_one_axis(edge: EdgePolicy, xs: list[int]) -> None:
    grid = ChipGrid(width=100, height=64, size=64, stride=32, edge=edge)
    # As few windows as cover 100 px: 0 and 32 end at 96, so a third is needed.
    assert (grid.rows, grid.cols, len(grid)) == (1, 3, 3)
    assert [c.x for c in grid] == xs
    assert [c.y for c in grid] == [0, 0, 0]


def test_shift_ends_the_last_row_and_column_at_the_edge() -> None:
    grid = ChipGrid(width=200, height=150, size=64, edge="shift")
    assert (grid.rows, grid.cols) == (3, 4)
    chips = list(grid)
    assert sorted({c.x for c in chips}) == [0, 64, 128, 136]  # 136 + 64 = 200
    assert sorted({c.y for c in chips}) == [0, 64, 86]  # 86 + 64 = 150
    assert all(c.x + c.size <= 200 and c.y + c.size <= 150 for c in chips)
    pad = ChipGrid(width=200, height=150, size=64, edge="pad")
    assert len(pad) == len(grid)  # same count, only the last offsets differ
    assert max(c.x for c in pad) == 192


@pytest.mark.parametrize("edge", ["pad", "shift"])
def test_an_image_smaller_than_a_chip_gives_one_window(edge: EdgePolicy) -> None:
    grid = ChipGrid(width=50, height=30, size=64, stride=16, edge=edge)
    assert len(grid) == 1
    assert list(grid) == [Chip(0, 0, 0, 0, 64)]


@pytest.mark.parametrize("edge", ["pad", "shift"])
def test_an_exact_fit_needs_no_padding_or_shift(edge: EdgePolicy) -> None:
    grid = ChipGrid(width=128, height=64, size=64, edge=edge)
    assert offsets(grid) == [(0, 0, 0, 0), (0, 1, 64, 0)]


@pytest.mark.parametrize(
    ("width", "height", "size", "stride", "edge"),
    [(1000, 1000, 256, None, "pad"), (1000, 700, 256, 200, "shift"), (513, 257, 256, 1, "pad"),
     (7, 5, 3, 2, "shift"), (1, 1, 1, None, "pad")],
)  # fmt: skip
def test_the_count_is_what_iterating_yields_and_the_chips_cover_the_image(
    width: int, height: int, size: int, stride: int | None, edge: EdgePolicy
) -> None:
    grid = ChipGrid(width, height, size, stride, edge)
    chips = list(grid)
    assert len(chips) == grid.count == grid.rows * grid.cols
    assert len({(c.row, c.col) for c in chips}) == len(chips)
    covered = np.zeros((height + size, width + size), dtype=bool)
    for c in chips:
        covered[c.y : c.y + c.size, c.x : c.x + c.size] = True
    assert covered[:height, :width].all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "chip size must be at least 1"),
        ({"size": 64, "stride": 0}, "stride must be between 1 and the chip size"),
        ({"size": 64, "stride": 65}, "stride must be between 1 and the chip size"),
        ({"size": 64, "width": 0}, "at least 1 x 1 px"),
        ({"size": 64, "edge": "mirror"}, "edge policy must be 'pad' or 'shift'"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"width": 100, "height": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        ChipGrid(**arguments)  # type: ignore[arg-type]


def test_windows_are_rasterio_windows_in_grid_order() -> None:
    grid = ChipGrid(100, 40, 50, stride=25, edge="shift")
    assert list(grid.windows()) == [
        Window(0, 0, 50, 50), Window(25, 0, 50, 50), Window(50, 0, 50, 50),
    ]  # fmt: skip


def test_cut_pads_beyond_the_image() -> None:
    image = np.arange(25, dtype=np.uint16).reshape(5, 5)
    corner = cut(image, Chip(1, 1, 3, 3, 3), fill=99)
    assert corner.dtype == np.uint16
    np.testing.assert_array_equal(corner, [[18, 19, 99], [23, 24, 99], [99, 99, 99]])
    inside = cut(image, Chip(0, 0, 1, 2, 3))
    np.testing.assert_array_equal(inside, image[2:5, 1:4])
    bands = np.stack([image, image * 2])
    assert cut(bands, Chip(1, 1, 3, 3, 3)).shape == (2, 3, 3)
    np.testing.assert_array_equal(cut(bands, Chip(1, 1, 3, 3, 3))[1], [[36, 38, 0], [46, 48, 0], [0, 0, 0]])


def test_chips_of_a_pad_grid_add_up_to_the_padded_image() -> None:
    image = np.arange(7 * 10, dtype=np.uint8).reshape(7, 10)
    grid = ChipGrid(10, 7, 4)
    chips = list(grid)
    whole = np.block(
        [[cut(image, c) for c in chips[r * grid.cols : (r + 1) * grid.cols]] for r in range(grid.rows)]
    )
    padded = np.zeros((8, 12), dtype=np.uint8)
    padded[:7, :10] = image
    np.testing.assert_array_equal(whole, padded)
