"""Acquisition dates an image carries itself: in its metadata tags, or in a Sentinel-2 or Landsat name.

The date is the UTC day of the acquisition's start. Tags are tried from the most specific (a sensing or
acquisition time) to TIFFTAG_DATETIME, which the TIFF standard defines as the file's creation time and which
many tools set to the acquisition time, so it comes last.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime

# Metadata items (GDAL's default domain) that hold an acquisition time, best first.
ACQUISITION_TAGS = (
    "ACQUISITIONDATETIME",  # e.g. Planet, Maxar and many processing chains
    "ACQUISITION_DATETIME",
    "ACQUISITION_DATE",
    "DATATAKE_1_DATATAKE_SENSING_START",  # Sentinel-2 (GDAL's SENTINEL2 driver and its GeoTIFF exports)
    "SENSING_TIME",
    "PRODUCT_START_TIME",
    "DATE_ACQUIRED",  # Landsat MTL
    "ACQUISITION_START_TIME",
    "TIFFTAG_DATETIME",
)

_DATE = re.compile(r"(?P<y>\d{4})[-:/]?(?P<m>\d{2})[-:/]?(?P<d>\d{2})(?:$|[T\s_])")
# S2A_MSIL2A_20210615T101031_..., T32TQM_20210615T101031_B04_10m, S2B_20210615T...
_SENTINEL2 = re.compile(
    r"(?:^|[_-])(?:S2[A-D]_MSI(?:L1C|L2A)_|S2[A-D]_|T\d{2}[A-Z]{3}_)(?P<day>\d{8})T\d{6}(?:$|[_.-])"
)
# Landsat Collection product ids: LC08_L2SP_044034_20210615_20210622_02_T1 (the first date is the scene's).
_LANDSAT = re.compile(r"(?:^|[_-])L[COTEM]0\d_L\d[A-Z]{2}_\d{6}_(?P<day>\d{8})_\d{8}_\d{2}_(?:T1|T2|RT)")


def date_from_tags(tags: Mapping[str, str]) -> date | None:
    """The acquisition date from metadata tags (keys compared without case), or None."""
    upper = {key.upper(): value for key, value in tags.items()}
    for key in ACQUISITION_TAGS:
        value = upper.get(key)
        if value and (parsed := parse_date(value)) is not None:
            return parsed
    return None


def date_from_filename(name: str) -> date | None:
    """The acquisition date in a Sentinel-2 or Landsat product or tile name, or None."""
    stem = name.rsplit("/", 1)[-1]
    for pattern in (_SENTINEL2, _LANDSAT):
        if match := pattern.search(stem):
            return _day(match["day"])
    return None


def parse_date(value: str) -> date | None:
    """The date of '2021:06:15 10:10:31' (TIFF), '2021-06-15T10:10:31.024Z', '20210615T101031' or
    '2021-06-15'; None for anything else or an impossible date."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    match = _DATE.match(text)
    if match is None:
        return None
    return _day(match["y"] + match["m"] + match["d"])


def _day(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
