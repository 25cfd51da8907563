"""Synthetic mines a small U-Net can learn in a minute on a CPU, honest enough to test training end to end:
multi-band GeoTIFFs of a textured background with an Outline (the grounds, brighter in band 1), a Pit inside
it (bright and textured in band 2) and an Infrastructure block inside it (bright in band 3), placed afresh for
each site and date, with the polygons that label them (pixel space)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio import features
from shapely import affinity
from shapely import geometry as shp

from tests.imagery.factories import ORIGIN, UTM33N

BANDS = 4


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (BANDS, size, size) uint16
    shapes: list[tuple[str, shp.Polygon]]  # (label, polygon in pixels), Outline first


def _ellipse(x: float, y: float, rx: float, ry: float, angle: float) -> shp.Polygon:
    circle = shp.Point(x, y).buffer(1.0, quad_segs=16)
    return affinity.rotate(affinity.scale(circle, rx, ry), angle)


def make_scene(seed: int, size: int = 128) -> Scene:
    rng = np.random.default_rng(seed)
    cx, cy = rng.uniform(0.45, 0.55, 2) * size
    outline = _ellipse(
        cx, cy, size * rng.uniform(0.36, 0.42), size * rng.uniform(0.32, 0.38), rng.uniform(0, 180)
    )
    pit = _ellipse(cx - size * 0.12, cy, size * rng.uniform(0.14, 0.18), size * rng.uniform(0.12, 0.16), 0)
    bx, by = cx + size * rng.uniform(0.06, 0.1), cy - size * 0.08
    infrastructure = shp.box(bx, by, bx + size * 0.14, by + size * 0.16)
    image = rng.normal(1000, 120, size=(BANDS, size, size))
    image += rng.normal(0, 80, size=(BANDS, 1, 1))  # each scene's own brightness
    for label, polygon, band, lift in [
        ("Outline", outline, 1, 700),
        ("Pit", pit, 2, 1200),
        ("Infrastructure", infrastructure, 3, 1400),
    ]:
        inside = features.rasterize([(polygon, 1)], out_shape=(size, size)).astype(bool)
        texture = rng.normal(0, 200 if label == "Pit" else 60, size=(size, size))
        image[band][inside] += lift + texture[inside]
    shapes = [("Outline", outline), ("Pit", pit), ("Infrastructure", infrastructure)]
    return Scene(np.clip(image, 0, 65535).astype(np.uint16), shapes)


def write_scene(path: Path, scene: Scene) -> None:
    _, height, width = scene.image.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": BANDS,
        "dtype": "uint16",
        "crs": UTM33N,
        "transform": ORIGIN,
        "nodata": None,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene.image)


def geojson(polygon: shp.Polygon) -> dict[str, object]:
    return dict(shp.mapping(polygon))
