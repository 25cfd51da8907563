"""What every piece of input from outside must meet, wherever it comes in (request bodies, query strings,
sidecars, import files): no control characters, bounded nesting, finite numbers, integers a database
column can hold.

One rule for all text, so that a NUL byte (which PostgreSQL cannot store in text or JSONB) or a terminal
escape never gets past the edge, and a 100,000-level JSON document is refused before anything recurses
into it. ``problem`` walks a parsed value once and says what is wrong and where; callers turn that into
their own 422 (pydantic's for request schemas, a domain error for files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# C0 controls except tab, line feed and carriage return (which real text such as a comment or an XML
# labeling config carries), DEL, and the C1 controls. PostgreSQL refuses \x00 in text and JSONB outright;
# the others make no sense in a name, an email or a label and can forge log lines or terminal output.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Deepest nesting any of our formats needs: a GeoJSON MultiPolygon is 5 levels (object, rings of
# polygons of points), a Label Studio task about 8. 64 leaves room and stays far from Python's
# recursion limit, so nothing downstream (json encoders, the idempotency fingerprint) can overflow.
MAX_DEPTH = 64

# JavaScript's safe integers: every client can represent them exactly, and PostgreSQL's bigint holds them.
MAX_INT = 2**53 - 1


@dataclass(frozen=True)
class InputProblem:
    """Where (a dotted path inside the value, "" for the value itself) and what is wrong."""

    where: str
    message: str

    def describe(self, field: str) -> str:
        """The message with the full field path, e.g. ``regions.0.label``."""
        path = ".".join(part for part in (field, self.where) if part)
        return f"{path}: {self.message}" if path else self.message


def text_problem(text: str) -> str | None:
    """Why ``text`` is not acceptable input, or None."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    return (
        f"contains the control character U+{ord(found.group()):04X} at position {found.start()}; "
        "remove it (only tab, line feed and carriage return are allowed in text)."
    )


def problem(value: object, *, max_depth: int = MAX_DEPTH) -> InputProblem | None:
    """The first problem in a parsed value (str, numbers, lists, dicts, nested), or None.

    Iterative, so a hostile depth cannot overflow the stack of this check itself.
    """
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            return InputProblem(where, f"is nested deeper than {max_depth} levels.")
        if isinstance(item, str):
            if (reason := text_problem(item)) is not None:
                return InputProblem(where, reason)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                return InputProblem(where, f"must be between -{MAX_INT} and {MAX_INT}.")
        elif isinstance(item, float):
            if not math.isfinite(item):
                return InputProblem(where, "must be a finite number (NaN and Infinity are not JSON).")
        elif isinstance(item, Mapping):
            for key, child in item.items():
                name = str(key)
                if (reason := text_problem(name)) is not None:
                    return InputProblem(where, f"has a key that {reason}")
                stack.append((child, _join(where, name), depth + 1))
        elif isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
            leaves = depth + 1 <= max_depth  # children this deep may be checked here; deeper, refused below
            for i, child in enumerate(item):
                # Numbers need no text check: a coordinate pair (a list of floats) is checked here, without a
                # path made for it and each number, which 200,000 vertices would otherwise pay for.
                if type(child) is list and depth + 2 <= max_depth and _finite_floats(child):
                    continue
                if leaves and type(child) is float and math.isfinite(child):
                    continue
                stack.append((child, _join(where, str(i)), depth + 1))
    return None


def _finite_floats(values: list[object]) -> bool:
    """Whether every item is a finite float (not an int, whose bounds the slow path checks)."""
    return all(type(value) is float and math.isfinite(value) for value in values)


def _join(where: str, part: str) -> str:
    return f"{where}.{part}" if where else part


def excerpt(text: str, limit: int = 80) -> str:
    """A short, printable excerpt of untrusted text for an error message (never the whole input)."""
    cleaned = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + f"… ({len(text)} characters)"
