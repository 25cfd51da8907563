"""Annotations and regions: GeoJSON in and out (pixel coordinates: x = column, y = row)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.annotation import RegionSource, RevisionAction


class RegionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        default=None, description="Client-chosen UUID; makes a retried save a no-op."
    )
    label: str = Field(description="A class of the project's labeling config.")
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon in pixel coordinates.")
    source: RegionSource = RegionSource.HUMAN
    score: float | None = Field(default=None, ge=0, le=1)
    accepted_from: uuid.UUID | None = Field(
        default=None, description="The prediction region it was accepted from."
    )


class AnnotationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regions: list[RegionIn] = Field(default_factory=list)


class AnnotationSave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, description="The version this save is based on (or If-Match).")
    regions: list[RegionIn]


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="The earlier version to bring back (as a new version).")
    based_on_version: int | None = Field(default=None, description="The current version (or If-Match).")


class RegionFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: dict[str, Any]
    properties: dict[str, Any]


class AnnotationRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    observation_id: uuid.UUID
    created_by: uuid.UUID | None = Field(default=None, description="Whose annotation it is.")
    version: int
    created_at: datetime
    updated_at: datetime
    regions: list[RegionFeature]
    changes: list[dict[str, str]] = Field(default_factory=list, description="What repair/clip changed.")
    warnings: list[dict[str, str]] = Field(default_factory=list, description="Mine topology rules not met.")


class RevisionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    region_id: uuid.UUID | None
    action: RevisionAction
    annotation_version: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    user_id: uuid.UUID | None
    created_at: datetime
