"""The bases of every job kind's parameter and result models (app/schemas/job.py lists the kinds)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.schemas.base import RequestModel


class JobParams(RequestModel):
    """Base of every kind's parameters: strict, so a misspelt field is an error, not ignored."""

    model_config = ConfigDict(frozen=True)


class JobResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
