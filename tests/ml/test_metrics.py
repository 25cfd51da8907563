"""Segmentation scores on masks with hand-computed answers: overlapping squares, an ignore mask, counts
summed over chips, and classes absent from both prediction and truth."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.metrics import ClassScores, Counts, count, mean_iou, scores


def square(top: int, left: int, side: int, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_two_half_overlapping_squares_have_an_iou_of_one_third() -> None:
    predicted = square(0, 0, 4)[None]  # columns 0..3
    true = square(0, 2, 4)[None]  # columns 2..5: 8 px shared, 8 px each alone
    counts = count(predicted, true)
    assert counts == Counts((8,), (8,), (8,))
    (pit,) = scores(counts, ["Pit"])
    assert (pit.label, pit.true_positives, pit.false_positives, pit.false_negatives) == ("Pit", 8, 8, 8)
    assert pit.iou == pytest.approx(1 / 3)
    assert (pit.precision, pit.recall, pit.f1) == (0.5, 0.5, 0.5)


def test_classes_are_scored_separately() -> None:
    predicted = np.stack([square(0, 0, 4), square(4, 4, 4), np.zeros((8, 8), dtype=bool)])
    true = np.stack([square(0, 0, 4), square(4, 4, 2), square(0, 0, 1)])
    pit, infrastructure, outline = scores(count(predicted, true), ["Pit", "Infrastructure", "Outline"])
    assert (pit.iou, pit.precision, pit.recall, pit.f1) == (1.0, 1.0, 1.0, 1.0)
    # 4 of 16 predicted pixels are true, and all 4 true pixels are found.
    assert (infrastructure.iou, infrastructure.precision, infrastructure.recall) == (0.25, 0.25, 1.0)
    assert infrastructure.f1 == pytest.approx(2 * 4 / (2 * 4 + 12))
    # Nothing predicted, one true pixel missed: precision is undefined, the rest is 0.
    assert (outline.iou, outline.precision, outline.recall, outline.f1) == (0.0, None, 0.0, 0.0)


def test_ignored_pixels_are_not_counted() -> None:
    predicted = square(0, 0, 4)[None]
    true = square(0, 2, 4)[None]
    ignore = np.zeros((8, 8), dtype=bool)
    ignore[:, 0:2] = True  # the false positives' columns
    counts = count(predicted, true, ignore=ignore)
    assert counts == Counts((8,), (0,), (8,))
    (pit,) = scores(counts, ["Pit"])
    assert (pit.iou, pit.precision, pit.recall) == (0.5, 1.0, 0.5)
    assert pit.f1 == pytest.approx(2 / 3)


def test_an_ignore_mask_per_class() -> None:
    predicted = np.stack([square(0, 0, 4), square(0, 0, 4)])
    true = np.stack([square(0, 2, 4), square(0, 2, 4)])
    ignore = np.zeros((2, 8, 8), dtype=bool)
    ignore[1, :, 4:] = True  # the second class's false negatives' columns
    assert count(predicted, true, ignore=ignore) == Counts((8, 8), (8, 8), (8, 0))


def test_counts_summed_over_two_chips_equal_the_counts_of_the_whole() -> None:
    rng = np.random.default_rng(7)
    predicted = rng.random((2, 8, 16)) > 0.5
    true = rng.random((2, 8, 16)) > 0.4
    ignore = rng.random((8, 16)) > 0.8
    left = count(predicted[:, :, :8], true[:, :, :8], ignore=ignore[:, :8])
    right = count(predicted[:, :, 8:], true[:, :, 8:], ignore=ignore[:, 8:])
    whole = count(predicted, true, ignore=ignore)
    assert left + right == whole
    assert sum([left, right], Counts.zeros(2)) == whole
    assert scores(left + right, ["a", "b"]) == scores(whole, ["a", "b"])
    # Summing counts is not averaging scores: a chip weighs its pixels.
    assert left != right and whole.true_positives[0] > 0


def test_a_class_absent_from_prediction_and_truth_has_no_scores() -> None:
    nothing = np.zeros((1, 4, 4), dtype=bool)
    (absent,) = scores(count(nothing, nothing), ["Pit"])
    assert absent == ClassScores("Pit", 0, 0, 0, iou=None, precision=None, recall=None, f1=None)
    assert mean_iou([absent]) is None


def test_the_mean_iou_leaves_out_undefined_classes() -> None:
    predicted = np.stack([square(0, 0, 4), np.zeros((8, 8), dtype=bool), square(0, 0, 2)])
    true = np.stack([square(0, 2, 4), np.zeros((8, 8), dtype=bool), square(0, 0, 2)])
    per_class = scores(count(predicted, true), ["Pit", "Infrastructure", "Outline"])
    assert [s.iou for s in per_class] == [pytest.approx(1 / 3), None, 1.0]
    assert mean_iou(per_class) == pytest.approx((1 / 3 + 1) / 2)


def test_bad_inputs_are_refused() -> None:
    mask = np.zeros((1, 4, 4), dtype=bool)
    with pytest.raises(ValueError, match="must be bool"):
        count(mask.astype(np.float32), mask)
    with pytest.raises(ValueError, match="shape"):
        count(mask, np.zeros((1, 4, 5), dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        count(mask[0], mask[0])  # no class axis
    with pytest.raises(ValueError, match="ignore mask"):
        count(mask, mask, ignore=np.zeros((4, 5), dtype=bool))
    with pytest.raises(ValueError, match="cannot be added"):
        _ = Counts.zeros(1) + Counts.zeros(2)
    with pytest.raises(ValueError, match="class names"):
        scores(Counts.zeros(2), ["Pit"])
