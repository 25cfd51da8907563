"""Per-class probabilities into a model's predicted regions: thresholded, sieved, vectorized with holes
kept (app.ml.vectorize), and every part class (Pit, Infrastructure) clipped to the whole-mine class
(Outline), so that predictions nest as reviewed labels do. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import geometry as shp
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from app.ml.vectorize import vectorize

OUTLINE_CLASS = "Outline"


@dataclass(frozen=True)
class ClassPolygon:
    label: str
    geometry: shp.Polygon
    score: float  # the mean probability inside it


@dataclass(frozen=True)
class PolygonRules:
    threshold: float = 0.5
    sieve_px: int = 16
    min_area_px: float = 16.0
    simplify_px: float = 1.0


def class_polygons(
    probabilities: np.ndarray, valid: np.ndarray, classes: list[str], rules: PolygonRules
) -> list[ClassPolygon]:
    """Polygons of every class, in pixel space; the Outline first when there is one.

    Args:
        probabilities: (classes, height, width), of ``classes`` in that order.
        valid: (height, width) bool: pixels with data (nodata never becomes a region).
    """
    if probabilities.shape[0] != len(classes) or probabilities.shape[1:] != valid.shape:
        raise ValueError(
            f"probabilities {probabilities.shape} do not fit {len(classes)} classes and valid {valid.shape}"
        )
    masks = (probabilities > rules.threshold) & valid
    outline = classes.index(OUTLINE_CLASS) if OUTLINE_CLASS in classes else None
    order = ([outline] if outline is not None else []) + [i for i in range(len(classes)) if i != outline]
    found: list[ClassPolygon] = []
    container: BaseGeometry | None = None
    for index in order:
        mask = masks[index]
        if outline is not None and index != outline:
            mask = mask & masks[outline]  # a part lies within the mine's grounds
        polygons = vectorize(
            mask,
            sieve_px=rules.sieve_px,
            min_area_px=rules.min_area_px,
            min_hole_area_px=rules.min_area_px,
            simplify_px=rules.simplify_px,
            scores=probabilities[index],
        )
        for polygon in polygons:
            geometry: BaseGeometry = polygon.geometry
            if container is not None:
                geometry = geometry.intersection(container)  # simplification may have moved edges apart
            for part in _polygons(geometry):
                if part.area >= rules.min_area_px:
                    found.append(ClassPolygon(classes[index], part, float(polygon.score or 0.0)))
        if index == outline:
            container = unary_union([p.geometry for p in found]) if found else shp.Polygon()
    return found


def _polygons(geometry: BaseGeometry) -> list[shp.Polygon]:
    if geometry.is_empty:
        return []
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, shp.Polygon):
        return [geometry]
    if isinstance(geometry, shp.MultiPolygon | shp.GeometryCollection):
        return [p for g in geometry.geoms for p in _polygons(g)]
    return []
