"""Conversion of an accepted image into a Cloud-Optimized GeoTIFF with overviews (rio-cogeo)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

_COPY_ROWS = 512


def make_cog(
    source: str,
    destination: Path,
    *,
    crs: str | None = None,
    transform: Affine | None = None,
) -> None:
    """Write ``source`` (a path rasterio opens) as a COG at ``destination``.

    Args:
        source: local path or /vsis3/ path of the original.
        destination: local path of the COG to write.
        crs, transform: georeferencing to give an image that has none of its own (from a sidecar).
    """
    profile = dict(cog_profiles["deflate"])
    with tempfile.TemporaryDirectory(prefix="minelabel-cog-") as tmp:
        input_path = source
        if crs is not None and transform is not None:
            input_path = str(Path(tmp) / "georeferenced.tif")
            _copy_with_georeference(source, input_path, crs, transform)
        with rasterio.open(input_path) as src:
            if src.dtypes[0] != "uint8":
                profile.update(predictor=2 if src.dtypes[0] == "uint16" else 3)
            cog_translate(
                src,
                str(destination),
                profile,
                overview_resampling="average",
                quiet=True,
                in_memory=False,
                temporary_compression="DEFLATE",
            )
    valid, errors, _ = cog_validate(str(destination), quiet=True)
    if not valid:
        raise RuntimeError(f"the COG written for {source} is not valid: {errors}")


def _copy_with_georeference(source: str, target: str, crs: str, transform: Affine) -> None:
    """Copy a raster strip by strip into a tiled GeoTIFF carrying ``crs`` and ``transform``."""
    with rasterio.open(source) as src:
        profile = {
            "driver": "GTiff", "width": src.width, "height": src.height, "count": src.count,
            "dtype": src.dtypes[0], "nodata": src.nodata, "crs": crs, "transform": transform,
            "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
        }  # fmt: skip
        with rasterio.open(target, "w", **profile) as dst:
            dst.colorinterp = src.colorinterp
            for row in range(0, src.height, _COPY_ROWS):
                window = Window(0, row, src.width, min(_COPY_ROWS, src.height - row))
                dst.write(src.read(window=window), window=window)
