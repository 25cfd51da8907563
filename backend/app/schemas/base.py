"""The base of every request schema (bodies and job parameters): the input rules and strict types.

Every model a client sends derives from ``RequestModel``, so one validator applies app.core.input_rules
to every field of every request (NUL and other control characters, nesting depth, integer bounds), with
a 422 naming the field, and refuses the lax coercions pydantic would otherwise do (``0`` as ``false``,
``false`` as ``0``, ``"5"`` as 5, ``0`` as a date). Strict mode itself cannot be used: FastAPI validates
bodies in Python mode, where strict refuses the strings that UUIDs, dates and enums arrive as in JSON.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from app.core.input_rules import problem


class RequestModel(BaseModel):
    # allow_inf_nan=False: NaN and Infinity are not JSON, and a NaN echoed in an error cannot be rendered.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _input_rules(cls, value: Any, info: ValidationInfo) -> Any:
        found = problem(value)
        if found is not None:
            # The field's own name is already in pydantic's loc; the message adds the path inside it.
            raise ValueError(found.describe(""))
        if info.field_name is not None:
            _check_strict(_scalar_kind(cls.model_fields[info.field_name].annotation), value)
        return value


def _scalar_kind(annotation: Any) -> type | None:
    """bool, int, float, date, datetime or str where the field is one of those (or optional); else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(options) != 1:
            return None
        annotation = options[0]
    if get_origin(annotation) is not None:
        annotation = get_origin(annotation)
    if annotation in (bool, int, float, date, datetime, str):
        return annotation  # type: ignore[no-any-return]
    return None


def _check_strict(kind: type | None, value: Any) -> None:
    if kind is None or value is None:
        return
    if kind is bool and not isinstance(value, bool):
        raise ValueError("must be true or false (a JSON boolean).")
    if kind in (int, float) and isinstance(value, bool | str):
        raise ValueError("must be a JSON number.")
    if kind in (date, datetime) and isinstance(value, bool | int | float):
        raise ValueError("must be a date as a string, e.g. 2021-06-15.")
    if kind is str and not isinstance(value, str):
        raise ValueError("must be a string.")
