"""Conversion of an accepted image into a Cloud-Optimized GeoTIFF with overviews (rio-cogeo)."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

_COPY_ROWS = 512
# Shares of the work, for progress: copying with a sidecar's georeferencing, then rio-cogeo's block copy;
# overviews and the final write come after (no progress is reported inside them).
_GEOREFERENCE_SHARE = 0.3
_BLOCKS_SHARE = 0.85

Fraction = Callable[[float], None]


def make_cog(
    source: str,
    destination: Path,
    *,
    crs: str | None = None,
    transform: Affine | None = None,
    on_progress: Fraction | None = None,
) -> None:
    """Write ``source`` (a path rasterio opens) as a COG at ``destination``.

    Every temporary file lies beside ``destination`` (the caller's scratch folder), never in /tmp.

    Args:
        source: local path or /vsis3/ path of the original.
        destination: local path of the COG to write.
        crs, transform: georeferencing to give an image that has none of its own (from a sidecar).
        on_progress: told the fraction done (0 to 1) as blocks are copied; it may raise to stop.
    """
    report = on_progress or (lambda _: None)
    profile = dict(cog_profiles["deflate"])
    with tempfile.TemporaryDirectory(prefix="cog-", dir=destination.parent) as tmp:
        input_path = source
        start = 0.0
        if crs is not None and transform is not None:
            input_path = str(Path(tmp) / "georeferenced.tif")
            _copy_with_georeference(
                source, input_path, crs, transform, lambda f: report(f * _GEOREFERENCE_SHARE)
            )
            start = _GEOREFERENCE_SHARE
        with rasterio.open(input_path) as src:
            if src.dtypes[0] != "uint8":
                profile.update(predictor=2 if src.dtypes[0] == "uint16" else 3)
            cog_translate(
                src,
                str(destination),
                profile,
                overview_resampling="average",
                # rio-cogeo reports progress only through a click progress bar; _PercentSink reads it.
                quiet=on_progress is None,
                progress_out=_PercentSink(lambda f: report(start + f * (_BLOCKS_SHARE - start))),
                in_memory=False,
                temporary_compression="DEFLATE",
            )
    valid, errors, _ = cog_validate(str(destination), quiet=True)
    if not valid:
        raise RuntimeError(f"the COG written for {source} is not valid: {errors}")


class _PercentSink(io.StringIO):
    """A pretend terminal for click's progress bar: passes on the last percentage of each line drawn."""

    _PERCENT = re.compile(r"(\d{1,3})%")

    def __init__(self, on_fraction: Fraction) -> None:
        super().__init__()
        self._on_fraction = on_fraction

    def isatty(self) -> bool:
        return True  # click draws the bar (with its percentage) only on a terminal

    def write(self, text: str) -> int:
        if found := self._PERCENT.findall(text):
            self._on_fraction(min(int(found[-1]), 100) / 100)
        return len(text)


def _copy_with_georeference(
    source: str, target: str, crs: str, transform: Affine, on_progress: Fraction
) -> None:
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
                on_progress(min(row + _COPY_ROWS, src.height) / src.height)
