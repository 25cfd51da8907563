"""The one error body every 4xx and 5xx answer has (app.core.errors writes it; the OpenAPI document
names it ``Error`` on every route)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ValidationIssue(BaseModel):
    """One field a request got wrong (422 ``request_invalid``)."""

    type: str = Field(description="pydantic's error type, e.g. missing, string_too_long, value_error.")
    loc: list[str | int] = Field(description='Where: ["body", "regions", 0, "label"], ["query", "offset"].')
    msg: str = Field(description="For people: what is wrong and how to fix it.")
    input: str | float | bool | None = Field(
        default=None, description="A short excerpt of what was sent (left out where it cannot be shown)."
    )


class ErrorRead(BaseModel):
    """``detail`` says what went wrong for people, ``code`` for programs; some codes add fields (e.g.
    ``field``, ``region_id``, ``rejected``, ``retry_after_s``)."""

    model_config = ConfigDict(extra="allow", title="Error")

    detail: str | list[ValidationIssue] = Field(
        description="A message; for request_invalid, the list of fields the request got wrong."
    )
    code: str = Field(
        description="Machine-readable: request_invalid, not_found, forbidden, not_authenticated, conflict, "
        "too_many_requests, payload_too_large, database_unavailable, ... (specific ones end in the general)."
    )
    setting: str | None = Field(
        default=None,
        description="For an answer from a limit (413, some 422s): the setting that sets it, e.g. "
        "LIMITS__MAX_BODY_BYTES.",
    )
