"""Labeled regions into pixel masks (rasterio's rasterize), with one rule for every consumer: a pixel
belongs to a region when its centre lies inside it (GDAL's rule; holes stay holes).

Regions are shapely geometries in the image's pixel space (x = column, y = row from the top-left
corner). Two outputs: per-class boolean masks, where classes may overlap (multi-label training targets,
metrics), and the single-band class-index mask of the masks export, where they may not (0 background,
otherwise the class's 1-based position in the labeling config; the class listed first wins overlaps).
Both can be made for a window of the image (``offset``), so a chip's mask costs the chip's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import numpy as np
from affine import Affine
from rasterio import features
from shapely.geometry.base import BaseGeometry

from app.core.errors import InvalidInputError

UnknownClasses = Literal["error", "ignore"]


class LabeledShape(NamedTuple):
    """A region's geometry (pixel space) and its class name."""

    geometry: BaseGeometry
    label: str


class UnknownClassError(InvalidInputError):
    code = "unknown_class"


def class_values(classes: Sequence[str]) -> dict[str, int]:
    """Each class's value in a class-index mask: its 1-based position in the labeling config.

    Args:
        classes: the class names in config order.

    Returns:
        class name -> value (0 is background).
    """
    return {name: value for value, name in enumerate(classes, start=1)}


def class_masks(
    shapes: Iterable[LabeledShape],
    classes: Sequence[str],
    width: int,
    height: int,
    *,
    offset: tuple[int, int] = (0, 0),
    unknown: UnknownClasses = "error",
) -> np.ndarray:
    """One boolean mask per class; a pixel may belong to several classes.

    Args:
        shapes: the regions, in the image's pixel space.
        classes: the class names in config order; mask ``i`` is ``classes[i]``.
        width, height: the size of the image, or of the window with ``offset``.
        offset: (x, y) of the window's top-left pixel in the image; (0, 0) for the whole image.
        unknown: ``error`` raises UnknownClassError for a class not in ``classes``; ``ignore`` skips it.

    Returns:
        bool array of shape (len(classes), height, width).
    """
    index = {name: i for i, name in enumerate(classes)}
    by_class: list[list[BaseGeometry]] = [[] for _ in classes]
    for shape in _known(shapes, index, unknown):
        by_class[index[shape.label]].append(shape.geometry)
    masks = np.zeros((len(classes), height, width), dtype=bool)
    for i, geometries in enumerate(by_class):
        if geometries:
            masks[i] = _burn([(g, 1) for g in geometries], width, height, offset).astype(bool)
    return masks


def class_index_mask(
    shapes: Iterable[LabeledShape],
    classes: Sequence[str],
    width: int,
    height: int,
    *,
    offset: tuple[int, int] = (0, 0),
    unknown: UnknownClasses = "error",
) -> np.ndarray:
    """The masks export's single-band mask: 0 background, else the class's 1-based config position.

    Classes are painted in reverse config order, so where regions overlap the class listed first wins.

    Args:
        shapes: the regions, in the image's pixel space.
        classes: the class names in config order (at most 255).
        width, height: the size of the image, or of the window with ``offset``.
        offset: (x, y) of the window's top-left pixel in the image; (0, 0) for the whole image.
        unknown: ``error`` raises UnknownClassError for a class not in ``classes``; ``ignore`` skips it.

    Returns:
        uint8 array of shape (height, width).
    """
    if len(classes) > 255:
        raise ValueError(f"A uint8 class mask holds at most 255 classes, not {len(classes)}.")
    values = class_values(classes)
    pairs = [(s.geometry, values[s.label]) for s in _known(shapes, values, unknown)]
    # Later shapes win in rasterize, so the highest value is painted first. The sort is stable, but
    # the order within a class does not matter: its shapes all burn the same value.
    pairs.sort(key=lambda pair: -pair[1])
    return _burn(pairs, width, height, offset)


def _known(
    shapes: Iterable[LabeledShape], classes: dict[str, int], unknown: UnknownClasses
) -> Iterable[LabeledShape]:
    for shape in shapes:
        if shape.label not in classes:
            if unknown == "ignore":
                continue
            raise UnknownClassError(
                f"A region has the class {shape.label!r}, which is not in the labeling config "
                f"({', '.join(classes) or 'no classes'}).",
                label=shape.label,
            )
        if not shape.geometry.is_empty:
            yield shape


def _burn(
    pairs: list[tuple[BaseGeometry, int]], width: int, height: int, offset: tuple[int, int]
) -> np.ndarray:
    if not pairs:  # rasterize refuses an empty list
        return np.zeros((height, width), dtype=np.uint8)
    # The transform maps the window's pixel (col, row) to image pixel space, where the regions are.
    transform = Affine.translation(*offset)
    mask: np.ndarray = features.rasterize(
        pairs, out_shape=(height, width), fill=0, transform=transform, all_touched=False, dtype="uint8"
    )
    return mask
