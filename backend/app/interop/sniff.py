"""Which import format a file looks like, so that a file sent as the wrong one is named, not just refused.

The rules are the formats' own top-level shapes: COCO is one JSON object with ``images``, ``annotations``
(and ``categories``); a Label Studio export is a JSON list of tasks (objects with ``data``), or one task;
GeoJSON is an object whose ``type`` is FeatureCollection or Feature; a GeoPackage is an SQLite file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

_SQLITE = b"SQLite format 3\x00"

WHAT = {
    "coco": "COCO (a JSON object with images, annotations and categories): use format=coco",
    "label-studio": "a Label Studio export (a JSON list of tasks, each with data): use format=label-studio",
    "geojson": "GeoJSON (a FeatureCollection): use format=geojson",
    "gpkg": "a GeoPackage (an SQLite file): use format=gpkg",
}


def sniff_json(value: Any) -> str | None:
    """The import format a parsed JSON document looks like, or None."""
    if isinstance(value, dict):
        if isinstance(value.get("images"), list) and isinstance(value.get("annotations"), list):
            return "coco"
        if value.get("type") in ("FeatureCollection", "Feature"):
            return "geojson"
        if isinstance(value.get("data"), dict):
            return "label-studio"
        return None
    head = value[:10] if isinstance(value, list) else []
    if head and all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in head):
        return "label-studio"
    return None


def sniff_file(path: Path) -> str | None:
    """The import format a file looks like (it is read whole only when it might be JSON), or None."""
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(_SQLITE):
        return "gpkg"
    if head.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return sniff_json(orjson.loads(path.read_bytes()))
    except orjson.JSONDecodeError:
        return None


def looks_like(guess: str | None, expected: str) -> str | None:
    """``this looks like COCO (...): use format=coco`` when the guess is another format, else None."""
    if guess is None or guess == expected:
        return None
    return f"this looks like {WHAT[guess]}"
