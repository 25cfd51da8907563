"""Per-class segmentation scores (IoU, precision, recall, F1) from boolean masks, kept as pixel counts so
that evaluation over a whole data set adds up its chips' counts rather than averaging their scores.

Adding counts first is what torchmetrics' JaccardIndex and friends do (they accumulate a confusion
matrix): a chip with three pixels of a class then weighs three pixels, not as much as a chip full of it.
A score whose denominator is 0 is None (undefined), never 0.0 or 1.0; see ``_ratio``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Counts:
    """Per-class pixel counts; ``a + b`` sums two chips' (or data sets') counts."""

    true_positives: tuple[int, ...]
    false_positives: tuple[int, ...]
    false_negatives: tuple[int, ...]

    @classmethod
    def zeros(cls, classes: int) -> Counts:
        """Counts of nothing, the start of a sum over chips.

        Args:
            classes: the number of classes.

        Returns:
            All counts 0.
        """
        return cls((0,) * classes, (0,) * classes, (0,) * classes)

    def __add__(self, other: Counts) -> Counts:
        if len(other.true_positives) != len(self.true_positives):
            raise ValueError(
                f"Counts of {len(self.true_positives)} and {len(other.true_positives)} classes "
                "cannot be added."
            )
        return Counts(
            _sum(self.true_positives, other.true_positives),
            _sum(self.false_positives, other.false_positives),
            _sum(self.false_negatives, other.false_negatives),
        )


@dataclass(frozen=True)
class ClassScores:
    """One class's counts and scores; a score is None where it is undefined (denominator 0)."""

    label: str
    true_positives: int
    false_positives: int
    false_negatives: int
    iou: float | None
    precision: float | None
    recall: float | None
    f1: float | None


def count(predicted: np.ndarray, true: np.ndarray, *, ignore: np.ndarray | None = None) -> Counts:
    """Per-class true positives, false positives and false negatives of one image or chip.

    Args:
        predicted: bool, shape (classes, height, width), e.g. thresholded model output.
        true: bool, the same shape, e.g. ``rasterize.class_masks`` of the reviewed regions.
        ignore: bool, shape (height, width) for all classes or (classes, height, width); its True
            pixels are not counted at all (no-data, padding beyond the image, unlabeled areas).

    Returns:
        The counts, to add to other chips' counts.
    """
    if predicted.dtype != bool or true.dtype != bool:
        raise ValueError(f"Masks must be bool (threshold first), not {predicted.dtype} and {true.dtype}.")
    if predicted.ndim != 3 or predicted.shape != true.shape:
        raise ValueError(
            f"Masks must both have shape (classes, height, width); got {predicted.shape} and {true.shape}."
        )
    counted = np.ones(predicted.shape, dtype=bool)
    if ignore is not None:
        if ignore.dtype != bool or ignore.shape not in (predicted.shape, predicted.shape[1:]):
            raise ValueError(
                f"The ignore mask must be bool of shape {predicted.shape[1:]} or {predicted.shape}, "
                f"not {ignore.dtype} {ignore.shape}."
            )
        counted &= ~ignore
    axes = (1, 2)
    return Counts(
        _ints((predicted & true & counted).sum(axis=axes)),
        _ints((predicted & ~true & counted).sum(axis=axes)),
        _ints((~predicted & true & counted).sum(axis=axes)),
    )


def scores(counts: Counts, classes: Sequence[str]) -> list[ClassScores]:
    """IoU, precision, recall and F1 per class from (summed) counts.

    Args:
        counts: from ``count``, usually summed over many chips.
        classes: the class names, in the order of the masks' first axis.

    Returns:
        One ClassScores per class, in that order.
    """
    if len(classes) != len(counts.true_positives):
        raise ValueError(f"{len(classes)} class names for counts of {len(counts.true_positives)} classes.")
    return [
        ClassScores(
            label,
            tp,
            fp,
            fn,
            iou=_ratio(tp, tp + fp + fn),
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, tp + fn),
            f1=_ratio(2 * tp, 2 * tp + fp + fn),
        )
        for label, tp, fp, fn in zip(
            classes, counts.true_positives, counts.false_positives, counts.false_negatives, strict=True
        )
    ]


def mean_iou(per_class: Iterable[ClassScores]) -> float | None:
    """The mean IoU over the classes where it is defined.

    Args:
        per_class: from ``scores``.

    Returns:
        The mean, or None when no class has a defined IoU.
    """
    defined = [s.iou for s in per_class if s.iou is not None]
    return sum(defined) / len(defined) if defined else None


def _ratio(numerator: int, denominator: int) -> float | None:
    # 0 / 0 happens when a class is absent from both prediction and truth (or, for precision, when
    # nothing was predicted). torchmetrics' MeanIoU reports such a class as -1, "absent", a sentinel
    # and not a score; None is its typed form, which cannot slip into a mean unnoticed. 1.0 would reward
    # a model for every class a chip happens not to contain, 0.0 would punish it for them.
    return numerator / denominator if denominator else None


def _sum(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def _ints(values: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in values)
