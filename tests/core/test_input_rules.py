"""The input rules' walk (app.core.input_rules.problem): numbers in coordinate lists are checked on a fast
path, which must still find every problem and name where it is."""

from __future__ import annotations

import pytest

from app.core.input_rules import MAX_DEPTH, MAX_INT, problem


def ring(bad: object) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.5, bad], [1.0, 1.0], [0.0, 0.0]]]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (float("nan"), "must be a finite number"),
        (float("inf"), "must be a finite number"),
        (MAX_INT + 1, "must be between"),
        ("x\x00", "control character U+0000"),
    ],
)
def test_a_bad_number_in_a_coordinate_pair_is_found_and_named(bad: object, message: str) -> None:
    found = problem([ring(2.0), ring(bad)])
    assert found is not None and found.where == "1.coordinates.0.1.1" and message in found.message


def test_finite_floats_and_bounded_ints_pass() -> None:
    assert problem([ring(2.0), ring(3), ring(True)]) is None  # a bool is the geometry check's to refuse


def test_a_pair_of_floats_past_the_depth_limit_is_still_refused() -> None:
    value: object = [1.0, 2.0]
    for _ in range(MAX_DEPTH):
        value = [value]
    found = problem(value)
    assert found is not None and "nested deeper" in found.message
    inside: object = [1.0, 2.0]
    for _ in range(MAX_DEPTH - 1):
        inside = [inside]
    assert problem(inside) is None
