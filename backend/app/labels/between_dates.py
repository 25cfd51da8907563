"""A region of one observation in the pixel grid of another of the same site (a date before or after).

Geometry is canonical in each image's own pixels. When both images are georeferenced, a shape goes through
the ground: the first image's transform and CRS to the second's CRS, then the second's inverse transform, so
that two dates imaged with other footprints still line up. Without georeferencing on both, the images of a
series are taken to share their pixel grid (the same scene, cut the same way), and the shape keeps its
pixel coordinates. Either way it is cut to the second image's bounds.
"""

from __future__ import annotations

from affine import Affine
from rasterio.warp import transform_geom
from shapely import geometry as shp
from shapely.affinity import affine_transform
from shapely.geometry.base import BaseGeometry

from app.models.observation import Observation


def in_pixels_of(geometry: BaseGeometry, source: Observation, target: Observation) -> BaseGeometry:
    """``geometry`` (pixels of ``source``) in the pixels of ``target``; empty when it falls outside."""
    if _georeferenced(source) and _georeferenced(target):
        assert source.transform is not None and target.transform is not None and source.crs and target.crs
        a, b, c, d, e, f = source.transform[:6]
        on_ground = affine_transform(geometry, [a, b, d, e, c, f])
        if source.crs != target.crs:
            on_ground = shp.shape(transform_geom(source.crs, target.crs, shp.mapping(on_ground)))
        inverse = ~Affine(*target.transform[:6])
        moved = affine_transform(
            on_ground, [inverse.a, inverse.b, inverse.d, inverse.e, inverse.c, inverse.f]
        )
    else:
        moved = geometry
    return moved.intersection(shp.box(0, 0, target.width, target.height))


def _georeferenced(observation: Observation) -> bool:
    return bool(observation.is_georeferenced and observation.crs and observation.transform)
