"""A mask (boolean, or probabilities and a threshold) into pixel-space polygons (rasterio's shapes), so
that SAM, model predictions and anything else that makes masks turn them into regions the same way.

Each polygon is one 4-connected group of pixels, so its outline follows pixel edges, and holes are kept.
4-connectivity is what keeps the output valid: GDAL writes diagonally touching pixels of one 8-connected
group as a ring that touches itself, which is not a valid polygon. Small parts can be dropped
(``min_area_px``) and small holes filled (``min_hole_area_px``), or both done on the pixels first by
GDAL's sieve (``sieve_px``). Simplification (``simplify_px``) preserves each polygon's topology and is
undone for any polygon it would leave invalid or empty, so every result is a valid, non-empty Polygon.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio import features
from shapely.geometry import Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry

_CONNECTIVITY = 4


@dataclass(frozen=True)
class MaskPolygon:
    """One polygon found in a mask, in the image's pixel space."""

    geometry: Polygon
    area_px: float  # of ``geometry`` as returned (holes subtracted, after simplification)
    score: float | None  # mean of the scores inside it; None when no scores were given


def vectorize(
    mask: np.ndarray,
    *,
    threshold: float = 0.5,
    min_area_px: float = 0,
    min_hole_area_px: float = 0,
    simplify_px: float = 0,
    sieve_px: int = 0,
    offset: tuple[int, int] = (0, 0),
    scores: np.ndarray | None = None,
) -> list[MaskPolygon]:
    """The polygons of a mask, in scan order (top to bottom, then left to right).

    Args:
        mask: shape (height, width); bool, or numbers where a pixel is in when it is > ``threshold``.
        threshold: for a mask that is not bool, e.g. probabilities; ignored for a bool mask.
        min_area_px: polygons whose area (holes subtracted, small holes filled first) is below this are
            dropped; judged on the pixels, before simplification.
        min_hole_area_px: holes with an area below this are filled.
        simplify_px: the simplification tolerance in pixels (0: outlines follow every pixel edge).
        sieve_px: before polygonizing, groups of fewer pixels than this (parts and holes alike) take
            the value around them (rasterio's sieve); 0 leaves the pixels as they are.
        offset: (x, y) of the mask's top-left pixel in the full image, e.g. a chip's position, so that
            polygons come out in the full image's pixel space.
        scores: shape (height, width), e.g. probabilities; a polygon's score is their mean over the
            pixels whose centre lies inside the polygon before simplification (its pixels in the mask
            plus any holes filled).

    Returns:
        Valid, non-empty polygons with their area and score.
    """
    if mask.ndim != 2:
        raise ValueError(f"The mask must have 2 dimensions (height, width), not shape {mask.shape}.")
    if scores is not None and scores.shape != mask.shape:
        raise ValueError(f"The scores have shape {scores.shape}, the mask {mask.shape}; they must match.")
    if min(min_area_px, min_hole_area_px, simplify_px, sieve_px) < 0:
        raise ValueError("min_area_px, min_hole_area_px, simplify_px and sieve_px must not be negative.")
    pixels = (mask if mask.dtype == bool else mask > threshold).astype(np.uint8)
    if sieve_px > 0:
        pixels = features.sieve(pixels, size=sieve_px, connectivity=_CONNECTIVITY)
    transform = Affine.translation(*offset)
    results = []
    for found, _ in features.shapes(
        pixels, mask=pixels.astype(bool), connectivity=_CONNECTIVITY, transform=transform
    ):
        for polygon in _valid_polygons(shape(found)):
            polygon = _fill_holes(polygon, min_hole_area_px)
            if polygon.area < min_area_px:
                continue
            score = None if scores is None else _mean_inside(scores, polygon, offset)
            simplified = _simplify(polygon, simplify_px)
            results.append(MaskPolygon(simplified, float(simplified.area), score))
    return results


def to_geojson(
    polygons: Iterable[MaskPolygon], *, properties: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Polygons as a GeoJSON FeatureCollection in pixel coordinates (not EPSG:4326).

    Args:
        polygons: what ``vectorize`` returned.
        properties: added to every feature's properties (e.g. the class), next to area_px and score.

    Returns:
        A FeatureCollection as a dict, ready for orjson.
    """
    extra = dict(properties or {})
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(p.geometry),
                "properties": {"area_px": p.area_px, "score": p.score, **extra},
            }
            for p in polygons
        ],
    }


def _valid_polygons(geometry: BaseGeometry) -> Iterator[Polygon]:
    # A safeguard: 4-connected shapes come out valid, but GDAL's output is not ours to promise.
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, Polygon):
        if geometry.area > 0:
            yield geometry
    elif isinstance(geometry, BaseMultipartGeometry):
        for part in geometry.geoms:
            yield from _valid_polygons(part)


def _fill_holes(polygon: Polygon, min_hole_area_px: float) -> Polygon:
    if min_hole_area_px <= 0 or not polygon.interiors:
        return polygon
    kept = [ring for ring in polygon.interiors if Polygon(ring).area >= min_hole_area_px]
    return Polygon(polygon.exterior, kept)


def _simplify(polygon: Polygon, tolerance: float) -> Polygon:
    if tolerance <= 0:
        return polygon
    simplified = shapely.simplify(polygon, tolerance, preserve_topology=True)
    if isinstance(simplified, Polygon) and simplified.is_valid and not simplified.is_empty:
        return simplified
    return polygon  # never trade a valid polygon for an invalid or empty one


def _mean_inside(scores: np.ndarray, polygon: Polygon, offset: tuple[int, int]) -> float:
    # The polygon comes from pixel edges, so its bounds are whole pixels; rasterize only over them.
    minx, miny, maxx, maxy = (round(v) for v in polygon.bounds)
    col, row = minx - offset[0], miny - offset[1]
    inside = features.rasterize(
        [(polygon, 1)], out_shape=(maxy - miny, maxx - minx), transform=Affine.translation(minx, miny),
        fill=0, all_touched=False, dtype="uint8",
    ).astype(bool)  # fmt: skip
    return float(scores[row : row + inside.shape[0], col : col + inside.shape[1]][inside].mean())
