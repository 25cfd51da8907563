"""Elevation models on screen: shaded relief computed with numpy from the band, and a colour ramp.

The shading follows the usual cartographic convention (light from the north-west, 45 degrees up), on the
ground distances of the rendered pixels: a tile at a lower zoom covers more ground per pixel, so its slopes
come out as the full-resolution ones do. Both work on rio-tiler's ImageData, which carries the tile's bounds
and CRS, and keep its mask (no data stays transparent).
"""

from __future__ import annotations

import math

import numpy as np
from pyproj import Geod, Transformer
from pyproj.exceptions import ProjError
from rio_tiler.colormap import cmap
from rio_tiler.models import ImageData
from rio_tiler.types import ColorMapType

AZIMUTH_DEG = 315.0  # light from the north-west
ALTITUDE_DEG = 45.0
ELEVATION_COLORMAP = "terrain"
_GEOD = Geod(ellps="WGS84")


def elevation_colormap() -> ColorMapType:
    """Low to high: blue-green lowlands to brown and white heights (matplotlib's 'terrain')."""
    ramp: ColorMapType = cmap.get(ELEVATION_COLORMAP)
    return ramp


def ground_cell_size(image: ImageData, native_cell: tuple[float, float]) -> tuple[float, float]:
    """Ground metres per rendered pixel (x, y) at the image's centre.

    Georeferenced data (``image.crs`` set: UTM, EPSG:4326, Web Mercator, ...) is measured on the ellipsoid;
    without a CRS the bounds count source pixels, each ``native_cell`` (units of the elevations per pixel,
    1 when nothing says otherwise).
    """
    if image.bounds is None:  # rio-tiler always sets them for reads from a file
        return native_cell
    left, bottom, right, top = image.bounds
    height, width = image.height, image.width
    step_x, step_y = (right - left) / width, (top - bottom) / height
    if image.crs is not None:
        x, y = (left + right) / 2, (bottom + top) / 2
        try:
            to_wgs84 = Transformer.from_crs(image.crs.to_wkt(), "EPSG:4326", always_xy=True)
            lon, lat = to_wgs84.transform(x, y)
            lon_x, lat_x = to_wgs84.transform(x + step_x, y)
            lon_y, lat_y = to_wgs84.transform(x, y + step_y)
            dx = _GEOD.inv(lon, lat, lon_x, lat_x)[2]
            dy = _GEOD.inv(lon, lat, lon_y, lat_y)[2]
        except ProjError:
            dx = dy = math.nan
        if math.isfinite(dx) and math.isfinite(dy) and dx > 0 and dy > 0:
            return float(dx), float(dy)
    return abs(step_x) * native_cell[0], abs(step_y) * native_cell[1]


def hillshade(image: ImageData, native_cell: tuple[float, float] = (1.0, 1.0)) -> ImageData:
    """Shaded relief of the first band as 8-bit grey (flat ground is 180, slopes facing the light up to
    255, those facing away darker), with the image's mask."""
    dx, dy = ground_cell_size(image, native_cell)
    band = np.ma.masked_invalid(image.array[0].astype("float64"))
    if band.count() == 0:
        shade = np.zeros(band.shape, dtype="uint8")
    else:
        # No-data cells take the mean, so that their neighbours' slopes stay finite (they stay masked).
        elevation = band.filled(float(band.mean()))
        d_row, d_col = np.gradient(elevation, dy, dx)
        # Rows run south: the slope towards north is minus the slope along the rows.
        slope_east, slope_north = d_col, -d_row
        azimuth, altitude = math.radians(AZIMUTH_DEG), math.radians(ALTITUDE_DEG)
        light = (
            math.sin(azimuth) * math.cos(altitude),
            math.cos(azimuth) * math.cos(altitude),
            math.sin(altitude),
        )
        # The unit normal of z = f(east, north) is (-f_e, -f_n, 1) / norm; brightness: its cosine to light.
        norm = np.sqrt(slope_east**2 + slope_north**2 + 1)
        lit = (-slope_east * light[0] - slope_north * light[1] + light[2]) / norm
        shade = np.clip(np.rint(lit * 255), 0, 255).astype("uint8")
    mask = np.ma.getmaskarray(image.array)[:1] | np.ma.getmaskarray(band)[np.newaxis]
    data = np.ma.MaskedArray(shade[np.newaxis], mask=mask)
    return ImageData(data, bounds=image.bounds, crs=image.crs)
