"""Checks for Label Studio tasks, for what the export writes and what the import reads.

Label Studio itself accepts most malformed files silently and only breaks later in its editor, so both
directions check the facts it relies on (see docs/label-studio.md):
- ``points`` are percent (0-100) of ``original_width`` x ``original_height``, which must be the real image
  size; at least three vertices; the first vertex is not repeated at the end;
- annotation ids are integers; ``ground_truth`` is written (Label Studio stores a missing one as true);
- ``completed_by`` is omitted, a user id, or ``{"email": ...}``;
- a prediction's ``score`` is 0-1;
- ``data.<image>`` is an http(s) URL, ``/data/local-files/?d=<dir>/<file>`` or ``/data/upload/...``.
"""

from __future__ import annotations

import math
import re

from app.core.errors import MineLabelError

EPSILON = 1e-9
_IMAGE_REFERENCE = re.compile(r"^(https?://\S+|/data/local-files/\?d=\S+/\S+|/data/upload/\S+)$")


class LintError(MineLabelError):
    """What the export was about to write is not valid Label Studio JSON (a bug: please report it)."""

    code = "label_studio_lint"


def image_reference_problem(reference: object) -> str | None:
    if not isinstance(reference, str) or not _IMAGE_REFERENCE.match(reference):
        return (
            f"the image reference {reference!r} is not an http(s) URL, /data/local-files/?d=<dir>/<file> or "
            "/data/upload/...: Label Studio would store it but never show the image"
        )
    return None


def check_image_reference(reference: str, *, where: str) -> None:
    if (problem := image_reference_problem(reference)) is not None:
        raise LintError(f"{where}: {problem}")


def points_problem(points: object) -> str | None:
    """What is wrong with a ``value.points`` list, or None."""
    if not isinstance(points, list) or len(points) < 3:
        return "value.points must be a list of at least 3 [x, y] pairs"
    for number, point in enumerate(points):
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(
                isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in point
            )
        ):
            return f"vertex {number} is not an [x, y] pair of numbers: {point!r}"
        if not (-EPSILON <= point[0] <= 100 + EPSILON and -EPSILON <= point[1] <= 100 + EPSILON):
            return f"vertex {number} {point} is outside 0-100 (points are percent of the image size)"
    distinct = {(round(p[0], 9), round(p[1], 9)) for p in points}
    if len(distinct) < 3:
        return "value.points has fewer than 3 distinct vertices"
    return None
