"""Masks into polygons: holes, islands, small parts and holes, the sieve, bounded simplification, offsets,
scores from probabilities, GeoJSON, and the round trip from regions to masks and back."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box, shape

from app.ml.rasterize import LabeledShape, class_masks
from app.ml.vectorize import MaskPolygon, to_geojson, vectorize


def holed_mask() -> np.ndarray:
    mask = np.zeros((10, 10), dtype=bool)
    mask[1:8, 1:8] = True
    mask[3:5, 3:5] = False  # a 2 x 2 hole
    return mask


def disc(radius: float, size: int) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    centre = size / 2
    result: np.ndarray = (rows - centre) ** 2 + (cols - centre) ** 2 <= radius**2
    return result


def vertices(polygon: Polygon) -> int:
    return len(polygon.exterior.coords) + sum(len(ring.coords) for ring in polygon.interiors)


def test_a_mask_with_a_hole_keeps_the_hole() -> None:
    (found,) = vectorize(holed_mask())
    assert isinstance(found, MaskPolygon)
    assert found.geometry.equals(Polygon(box(1, 1, 8, 8).exterior, [box(3, 3, 5, 5).exterior]))
    assert found.area_px == 49 - 4 and found.score is None
    assert found.geometry.is_valid


def test_two_islands_are_two_polygons_in_scan_order() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[6:9, 1:4] = True
    mask[1:3, 8:12] = True
    found = vectorize(mask)
    assert [p.area_px for p in found] == [8, 9]  # the upper one first
    assert found[0].geometry.equals(box(8, 1, 12, 3)) and found[1].geometry.equals(box(1, 6, 4, 9))


def test_diagonal_neighbours_are_separate_and_a_hole_touching_a_corner_is_valid() -> None:
    diagonal = np.array([[1, 0], [0, 1]], dtype=bool)
    assert [p.geometry.bounds for p in vectorize(diagonal)] == [(0, 0, 1, 1), (1, 1, 2, 2)]
    # The 0 at (1, 1) is a hole of the 4-connected 1s and touches the outside (2, 2) at one vertex.
    corner = np.array([[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    (found,) = vectorize(corner)
    assert found.geometry.is_valid and found.area_px == 7 and len(found.geometry.interiors) == 1


def test_parts_below_the_minimum_area_are_dropped() -> None:
    mask = np.zeros((8, 8), dtype=bool)
    mask[0, 0] = True  # 1 px
    mask[4:6, 4:6] = True  # 4 px
    mask[0:3, 5:8] = True  # 9 px
    assert sorted(p.area_px for p in vectorize(mask)) == [1, 4, 9]
    assert sorted(p.area_px for p in vectorize(mask, min_area_px=4)) == [4, 9]  # 4 is not below 4
    assert [p.area_px for p in vectorize(mask, min_area_px=5)] == [9]


def test_holes_below_the_minimum_hole_area_are_filled() -> None:
    (kept,) = vectorize(holed_mask(), min_hole_area_px=4)
    assert len(kept.geometry.interiors) == 1 and kept.area_px == 45
    (filled,) = vectorize(holed_mask(), min_hole_area_px=5)
    assert filled.geometry.equals(box(1, 1, 8, 8)) and filled.area_px == 49


def test_the_sieve_removes_small_groups_of_pixels_and_fills_small_holes() -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask[1:8, 1:8] = True
    mask[4, 4] = False  # a 1 px hole
    mask[9, 9] = True  # a 1 px island
    assert len(vectorize(mask)) == 2
    (found,) = vectorize(mask, sieve_px=2)
    assert found.geometry.equals(box(1, 1, 8, 8))


def test_simplification_drops_vertices_within_the_tolerance_and_stays_valid() -> None:
    mask = disc(radius=20, size=48)
    (exact,) = vectorize(mask)
    assert exact.area_px == mask.sum()
    (simple,) = vectorize(mask, simplify_px=1.0)
    assert vertices(simple.geometry) < vertices(exact.geometry) / 2
    assert simple.geometry.is_valid and not simple.geometry.is_empty
    # No point moves further than the tolerance, so the area changes by at most perimeter x tolerance.
    assert simple.geometry.hausdorff_distance(exact.geometry) <= 1.0 + 1e-9
    assert abs(simple.area_px - exact.area_px) <= exact.geometry.length * 1.0
    assert simple.area_px == pytest.approx(np.pi * 20**2, rel=0.03)


def test_a_coarse_simplification_never_makes_invalid_or_empty_polygons() -> None:
    ring = disc(radius=20, size=48) & ~disc(radius=17, size=48)  # a thin annulus, 3 px wide
    mask = ring.copy()
    mask[0, 0] = True  # and a single pixel, which simplification cannot shrink any further
    for tolerance in (0.5, 2.0, 5.0, 50.0):
        found = vectorize(mask, simplify_px=tolerance)
        assert len(found) == 2
        assert all(p.geometry.is_valid and not p.geometry.is_empty and p.area_px > 0 for p in found)
        annulus = next(p for p in found if p.area_px > 1)
        assert len(annulus.geometry.interiors) == 1  # the hole survives


def test_an_offset_places_the_polygons_in_the_full_image() -> None:
    (here,) = vectorize(holed_mask())
    (there,) = vectorize(holed_mask(), offset=(256, 512))
    assert there.geometry.equals(shapely.affinity.translate(here.geometry, 256, 512))
    assert there.geometry.bounds == (257, 513, 264, 520)


def test_probabilities_above_the_threshold_make_the_mask() -> None:
    probability = np.full((6, 6), 0.2)
    probability[1:3, 1:4] = 0.9
    probability[2, 3] = 0.6
    probability[5, 5] = 0.5  # not above 0.5
    (found,) = vectorize(probability)
    assert found.geometry.equals(box(1, 1, 4, 3))
    assert (
        len(vectorize(probability, threshold=0.1)) == 1
        and vectorize(probability, threshold=0.1)[0].area_px == 36
    )
    assert vectorize(probability, threshold=0.95) == []
    as_numbers = vectorize(holed_mask().astype(np.uint8))  # 0/1 integers, > 0.5
    assert as_numbers[0].area_px == 45


def test_the_score_is_the_mean_probability_inside_each_polygon() -> None:
    probability = np.full((6, 8), 0.1)
    probability[1:3, 1:4] = 0.9
    probability[2, 3] = 0.6
    probability[4:6, 6:8] = [[0.7, 0.8], [0.9, 1.0]]
    left, right = vectorize(probability, scores=probability)
    assert left.score == pytest.approx((5 * 0.9 + 0.6) / 6)
    assert right.score == pytest.approx(0.85)
    # With an offset the scores still come from the mask's own array.
    shifted = vectorize(probability, scores=probability, offset=(100, 50))
    assert [p.score for p in shifted] == [left.score, right.score]
    # A filled hole's pixels are inside the polygon, so they count.
    holed = holed_mask()
    scores = np.where(holed, 1.0, 0.0)
    assert vectorize(holed, scores=scores)[0].score == pytest.approx(1.0)
    assert vectorize(holed, scores=scores, min_hole_area_px=5)[0].score == pytest.approx(45 / 49)


def test_an_empty_mask_has_no_polygons() -> None:
    assert vectorize(np.zeros((5, 5), dtype=bool)) == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="2 dimensions"):
        vectorize(np.zeros((1, 5, 5), dtype=bool))
    with pytest.raises(ValueError, match="must match"):
        vectorize(np.zeros((5, 5), dtype=bool), scores=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="must not be negative"):
        vectorize(np.zeros((5, 5), dtype=bool), simplify_px=-1)


def test_geojson_in_pixel_coordinates() -> None:
    probability = np.where(holed_mask(), 0.75, 0.0)
    found = vectorize(probability, scores=probability)
    collection = to_geojson(found, properties={"class": "Pit"})
    assert collection["type"] == "FeatureCollection"
    (feature,) = collection["features"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    assert feature["properties"] == {"area_px": 45.0, "score": 0.75, "class": "Pit"}
    assert shape(feature["geometry"]).equals(found[0].geometry)
    assert len(feature["geometry"]["coordinates"]) == 2  # exterior and hole
    assert to_geojson([]) == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize(
    "region",
    [
        box(3, 2, 9, 7),
        Polygon(box(1, 1, 11, 9).exterior, [box(4, 3, 6, 5).exterior, box(7, 5, 9, 8).exterior]),
        Polygon([(0, 0), (6, 0), (6, 2), (2, 2), (2, 8), (0, 8)]),  # an L
    ],
    ids=["square", "two-holes", "L"],
)
def test_rasterize_then_vectorize_gives_the_same_shape(region: Polygon) -> None:
    masks = class_masks([LabeledShape(region, "Pit")], ["Pit"], 12, 10)
    found = vectorize(masks[0])
    assert len(found) == 1
    back = found[0].geometry
    assert back.intersection(region).area / back.union(region).area == 1.0  # IoU 1
    assert back.symmetric_difference(region).area == 0
    assert len(back.interiors) == len(region.interiors)


def test_rasterize_then_vectorize_a_window_gives_the_shape_cut_to_it() -> None:
    region = Polygon(box(1, 1, 11, 9).exterior, [box(4, 3, 6, 5).exterior])
    offset, width, height = (5, 2), 6, 5  # the window x 5..11, y 2..7
    masks = class_masks([LabeledShape(region, "Pit")], ["Pit"], width, height, offset=offset)
    (found,) = vectorize(masks[0], offset=offset)
    window = box(5, 2, 11, 7)
    assert found.geometry.symmetric_difference(region.intersection(window)).area == 0
