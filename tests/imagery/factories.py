"""Small images made in code: GeoTIFFs, PNGs and JPEGs with known pixels, and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

# A 30 m grid in UTM zone 33N (central Europe); any real CRS would do.
UTM33N = "EPSG:32633"
ORIGIN = Affine.translation(500_000, 5_600_000) @ Affine.scale(30, -30)


def pattern(count: int, height: int, width: int, dtype: str, seed: int = 0) -> np.ndarray:
    """Deterministic, varied pixels (gradients plus noise), so tiles of different places differ."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    bands = []
    for band in range(count):
        base = (rows * (band + 1) + cols * (count - band)) % 200 + rng.integers(0, 50, size=(height, width))
        bands.append(base)
    data = np.stack(bands).astype("float64")
    if dtype == "uint16":
        data = data * 40 + 500
    elif dtype == "float32":
        data = data / 250.0
    return data.astype(dtype)


def write_geotiff(
    path: Path,
    *,
    width: int = 600,
    height: int = 500,
    count: int = 3,
    dtype: str = "uint8",
    crs: str | None = UTM33N,
    nodata: float | None = None,
    descriptions: list[str] | None = None,
    seed: int = 0,
) -> np.ndarray:
    data = pattern(count, height, width, dtype, seed)
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype,
        "crs": crs, "transform": ORIGIN if crs else Affine.identity(), "nodata": nodata,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
    return data


def write_plain(
    path: Path, driver: str, *, width: int = 300, height: int = 200, count: int = 3, seed: int = 0
) -> np.ndarray:
    """A PNG or JPEG without georeferencing."""
    data = pattern(count, height, width, "uint8", seed)
    with rasterio.open(
        path, "w", driver=driver, width=width, height=height, count=count, dtype="uint8"
    ) as dst:
        dst.write(data)
    return data


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


VRT_READING_PASSWD = """<VRTDataset rasterXSize="10" rasterYSize="10">
  <VRTRasterBand dataType="Byte" band="1">
    <SimpleSource><SourceFilename>/etc/passwd</SourceFilename><SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>
"""


def write_cone_dem(
    path: Path, *, size: int = 512, cell_m: float = 30.0, nodata: float | None = None
) -> np.ndarray:
    """A float32 elevation model of a cone (1,500 m at the centre, 500 m at the rim and beyond) in UTM 33N:
    every direction of slope, so shading can be checked against the light's direction."""
    rows, cols = np.mgrid[0:size, 0:size]
    radius = np.hypot(rows - size / 2, cols - size / 2)
    elevation: np.ndarray = (500 + np.clip(1000 - radius * (1000 / (size * 0.4)), 0, None)).astype("float32")
    if nodata is not None:
        elevation[:8, :8] = nodata
    transform = Affine.translation(500_000, 5_600_000) @ Affine.scale(cell_m, -cell_m)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", **profile, crs=UTM33N, transform=transform, nodata=nodata) as dst:
        dst.write(elevation, 1)
    return elevation
