"""Regions into masks: the pixel-centre rule, holes, multi-label masks, the export's class precedence,
windows of a larger image, and regions of classes the config does not know."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from app.ml.rasterize import LabeledShape, UnknownClassError, class_index_mask, class_masks, class_values

CLASSES = ["Pit", "Infrastructure", "Outline"]


def with_hole() -> Polygon:
    return Polygon(box(0, 0, 8, 8).exterior, [box(2, 2, 4, 4).exterior])


def test_a_pixel_aligned_square() -> None:
    masks = class_masks([LabeledShape(box(2, 3, 6, 5), "Infrastructure")], CLASSES, 8, 6)
    assert masks.shape == (3, 6, 8) and masks.dtype == bool
    expected = np.zeros((6, 8), dtype=bool)
    expected[3:5, 2:6] = True  # rows y 3..4, columns x 2..5
    np.testing.assert_array_equal(masks[1], expected)
    assert not masks[0].any() and not masks[2].any()


def test_a_pixel_belongs_to_a_region_when_its_centre_lies_inside() -> None:
    # Centres are at .5: columns 1 and 2 (1.5, 2.5 in [1.4, 3.4]), rows 2 and 3 (2.5, 3.5 in [1.6, 3.6]).
    mask = class_index_mask([LabeledShape(box(1.4, 1.6, 3.4, 3.6), "Pit")], CLASSES, 5, 5)
    expected = np.zeros((5, 5), dtype=np.uint8)
    expected[2:4, 1:3] = 1
    np.testing.assert_array_equal(mask, expected)


def test_holes_stay_holes() -> None:
    masks = class_masks([LabeledShape(with_hole(), "Outline")], CLASSES, 10, 10)
    expected = np.zeros((10, 10), dtype=bool)
    expected[0:8, 0:8] = True
    expected[2:4, 2:4] = False
    np.testing.assert_array_equal(masks[2], expected)
    assert masks[2].sum() == 64 - 4


def test_a_multipolygon_paints_every_part() -> None:
    parts = MultiPolygon([box(0, 0, 2, 2), box(4, 4, 6, 5)])
    mask = class_index_mask([LabeledShape(parts, "Outline")], CLASSES, 6, 6)
    assert mask.sum() == 3 * (4 + 2)
    assert (mask[0:2, 0:2] == 3).all() and (mask[4:5, 4:6] == 3).all()


def overlapping() -> list[LabeledShape]:
    # Outline first and last in the list, Pit in the middle: the list's order must not matter.
    return [
        LabeledShape(box(0, 0, 6, 6), "Outline"),
        LabeledShape(box(4, 4, 8, 8), "Pit"),
        LabeledShape(box(2, 2, 5, 5), "Infrastructure"),
    ]


def test_overlapping_classes_are_all_set_in_the_per_class_masks() -> None:
    masks = class_masks(overlapping(), CLASSES, 8, 8)
    assert masks[:, 4, 4].tolist() == [True, True, True]  # inside all three
    assert masks[:, 1, 1].tolist() == [False, False, True]
    assert masks[:, 7, 7].tolist() == [True, False, False]
    assert masks.sum(axis=(1, 2)).tolist() == [16, 9, 36]


def test_the_class_listed_first_wins_in_the_class_index_mask() -> None:
    mask = class_index_mask(overlapping(), CLASSES, 8, 8)
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[0:6, 0:6] = 3  # Outline
    expected[2:5, 2:5] = 2  # Infrastructure over Outline
    expected[4:8, 4:8] = 1  # Pit over both
    np.testing.assert_array_equal(mask, expected)
    assert mask.dtype == np.uint8
    # Another config order, another winner: values are positions in the config.
    reordered = class_index_mask(overlapping(), ["Outline", "Pit", "Infrastructure"], 8, 8)
    assert (reordered[0:6, 0:6] == 1).all() and reordered[7, 7] == 2


def test_class_values_are_one_based_config_positions() -> None:
    assert class_values(CLASSES) == {"Pit": 1, "Infrastructure": 2, "Outline": 3}


def test_a_window_is_the_same_as_cutting_the_whole_mask() -> None:
    shapes = [*overlapping(), LabeledShape(box(1.3, 6.2, 7.7, 7.9), "Infrastructure")]
    whole_index = class_index_mask(shapes, CLASSES, 8, 8)
    whole = class_masks(shapes, CLASSES, 8, 8)
    # The 3 x 4 window whose top-left pixel is (x, y) = (4, 3) in the image.
    np.testing.assert_array_equal(
        class_index_mask(shapes, CLASSES, 3, 4, offset=(4, 3)), whole_index[3:7, 4:7]
    )
    np.testing.assert_array_equal(class_masks(shapes, CLASSES, 3, 4, offset=(4, 3)), whole[:, 3:7, 4:7])
    # A window reaching beyond the image and the regions: outside them it is background.
    beyond = class_index_mask(shapes, CLASSES, 4, 4, offset=(6, 6))
    np.testing.assert_array_equal(beyond[:2, :2], whole_index[6:8, 6:8])
    assert not beyond[2:, :].any() and not beyond[:, 2:].any()


def test_no_regions_give_background() -> None:
    assert not class_index_mask([], CLASSES, 4, 3).any()
    assert class_index_mask([], CLASSES, 4, 3).shape == (3, 4)
    assert class_masks([], CLASSES, 4, 3).shape == (3, 3, 4)
    assert not class_masks([LabeledShape(Polygon(), "Pit")], CLASSES, 4, 3).any()  # empty geometry


def test_unknown_classes_raise_or_are_ignored_as_asked() -> None:
    shapes = [LabeledShape(box(0, 0, 2, 2), "Pit"), LabeledShape(box(2, 2, 4, 4), "Tailings")]
    with pytest.raises(UnknownClassError, match="'Tailings'") as raised:
        class_index_mask(shapes, CLASSES, 4, 4)
    assert raised.value.code == "unknown_class" and raised.value.extra == {"label": "Tailings"}
    with pytest.raises(UnknownClassError):
        class_masks(shapes, CLASSES, 4, 4)
    mask = class_index_mask(shapes, CLASSES, 4, 4, unknown="ignore")
    assert mask.sum() == 4 and (mask[0:2, 0:2] == 1).all()
    assert class_masks(shapes, CLASSES, 4, 4, unknown="ignore").sum() == 4


def test_more_classes_than_a_byte_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 255 classes"):
        class_index_mask([], [f"c{i}" for i in range(256)], 2, 2)
