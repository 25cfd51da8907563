"""Checks on an uploaded image before anything is stored: format, size, data type, integrity.

Only PNG, JPEG and GeoTIFF are accepted, by their first bytes *and* by the GDAL driver that opens them,
so that a VRT (which can read arbitrary server files) or any other format is refused whatever its name.
Rasters are read through rasterio windows, never whole, and never through Pillow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from app.core.config import LimitSettings
from app.core.errors import InvalidInputError
from app.imagery.bands import default_band_names
from app.imagery.dates import date_from_tags

ALLOWED_DTYPES = {"uint8", "uint16", "float32"}
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"II*\x00": "GTiff",
    b"MM\x00*": "GTiff",
    b"II+\x00": "GTiff",  # BigTIFF
    b"MM\x00+": "GTiff",
}
_SAFE_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,255}$")
# No sidecar lookups; a truncated JPEG is an error, not a warning.
_STRICT_GDAL = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_PAM_ENABLED": "NO",
    "GDAL_ERROR_ON_LIBJPEG_WARNING": "TRUE",
}
# Rows read at once while checking integrity (bounded memory whatever the image size).
_CHECK_ROWS = 256


class ImageRejectedError(InvalidInputError):
    """The file is not an image MineLabel accepts; the message says why and what to do."""

    code = "image_rejected"


class ImageTooLargeError(ImageRejectedError):
    code = "image_too_large"


@dataclass(frozen=True)
class RasterFacts:
    driver: str
    width: int
    height: int
    band_count: int  # data bands, alpha excluded
    band_names: list[str]
    dtype: str
    nodata: float | None
    has_alpha: bool
    crs: str | None  # WKT or "EPSG:nnnn"
    transform: tuple[float, float, float, float, float, float] | None
    acquired_on: date | None = None  # from the file's metadata tags (app.imagery.dates)


def check_filename(name: str) -> str:
    """The file name as given, if it is a plain name; no folders, no '..', no control characters."""
    if not _SAFE_NAME.match(name) or name in (".", "..") or ".." in name:
        raise ImageRejectedError(
            f"File name {name!r} is not allowed: use a plain name without folders, '..' or control "
            "characters."
        )
    return name


def sniff_format(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(8)
    for magic, driver in _MAGIC.items():
        if head.startswith(magic):
            return driver
    raise ImageRejectedError("This is not a PNG, JPEG or GeoTIFF file (its first bytes say otherwise).")


def inspect_image(path: Path, display_name: str, limits: LimitSettings) -> RasterFacts:
    """Validate the image at ``path`` and return what MineLabel stores about it.

    Raises:
        ImageRejectedError: with a message naming the file and the problem.
    """
    sniffed = sniff_format(path)
    try:
        # Only the driver the first bytes name may open it: never VRT or any other.
        with rasterio.Env(**_STRICT_GDAL), rasterio.open(path, driver=sniffed) as src:
            facts = _facts(src, display_name, limits)
            if src.driver != sniffed:
                raise ImageRejectedError(f"{display_name}: the content is {src.driver}, not {sniffed}.")
            _read_everything(src, display_name)
    except ImageRejectedError:
        raise
    except (RasterioError, ValueError) as exc:
        raise ImageRejectedError(
            f"{display_name}: the file is damaged or truncated and cannot be read ({_short(exc, path)})."
        ) from exc
    return facts


def _facts(src: rasterio.io.DatasetReader, name: str, limits: LimitSettings) -> RasterFacts:
    if src.width * src.height > limits.max_image_pixels:
        raise ImageTooLargeError(
            f"{name}: {src.width} x {src.height} pixels is more than the limit of "
            f"{limits.max_image_pixels:,} (LIMITS__MAX_IMAGE_PIXELS); cut the scene into smaller images."
        )
    dtypes = set(src.dtypes)
    if len(dtypes) != 1 or not dtypes <= ALLOWED_DTYPES:
        raise ImageRejectedError(
            f"{name}: data type {', '.join(sorted(dtypes))} is not supported; use uint8, uint16 or float32."
        )
    colors = [ci.name for ci in src.colorinterp]
    has_alpha = src.count > 1 and colors[-1] == "alpha"
    count = src.count - 1 if has_alpha else src.count
    if count > limits.max_image_bands:
        raise ImageRejectedError(
            f"{name}: {count} bands is more than the {limits.max_image_bands} supported."
        )
    crs = None
    transform = None
    if src.crs is not None and not src.transform.is_identity:
        epsg = src.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else src.crs.to_wkt()
        transform = tuple(src.transform)[:6]
    return RasterFacts(
        driver=src.driver,
        width=src.width,
        height=src.height,
        band_count=count,
        band_names=default_band_names(count, list(src.descriptions[:count]), colors[:count]),
        dtype=src.dtypes[0],
        nodata=None if src.nodata is None or np.isnan(src.nodata) else float(src.nodata),
        has_alpha=has_alpha,
        crs=crs,
        transform=transform,
        acquired_on=date_from_tags(src.tags()),
    )


def _read_everything(src: rasterio.io.DatasetReader, name: str) -> None:
    """Decode every pixel, a strip at a time: the only sure way to find a truncated file."""
    for row in range(0, src.height, _CHECK_ROWS):
        window = Window(0, row, src.width, min(_CHECK_ROWS, src.height - row))
        src.read(window=window)


def _short(exc: Exception, path: Path | None = None) -> str:
    """GDAL's first line, without the server's paths (it names the staged file, not the sender's)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if path is not None:
        text = text.replace(f"{path}:", "").replace(str(path), path.name)
        text = text.replace(f"{path.name}: ", "", 1) if text.startswith(f"{path.name}: ") else text
    return text[:200]
