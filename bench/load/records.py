"""What the load run's clients tell the runner: the run's set-up (in) and every accepted and refused change
(out), so that the database can be checked against what the clients were told."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

# A refused region edit is drawn at half-integer coordinates, accepted ones only at whole ones: if a refused
# edit were stored, its geometry would say so wherever it is found (regions or revisions).
REFUSED_OFFSET = 0.5


class LoadConfig(BaseModel):
    """Written by the runner before locust starts, read by the locustfile."""

    project_id: uuid.UUID
    annotator_tokens: list[str]
    reviewer_tokens: list[str]
    image_size: int
    records_path: str = Field(description="Where the locust process writes its LoadRecords at the end.")
    seed: int = 0
    edits_per_task: tuple[int, int] = Field(
        default=(12, 30), description="Saves before submitting, at random."
    )


class RegionChange(BaseModel):
    """One region of an accepted change, as the client sent it."""

    region_id: uuid.UUID
    action: Literal["create", "update", "delete"]
    label: str | None = None
    geometry: dict[str, object] | None = Field(default=None, description="GeoJSON; None for a delete.")


class AcceptedChange(BaseModel):
    """A 200 for a change: the annotation version it answered and what the change was."""

    annotation_id: uuid.UUID
    version: int
    route: str
    regions: list[RegionChange]


class RefusedChange(BaseModel):
    """A change answered 409 (a deliberately stale one): nothing of it may be stored."""

    annotation_id: uuid.UUID
    route: str
    new_region_ids: list[uuid.UUID] = Field(description="Fresh ids it would have created.")


class KnownState(BaseModel):
    """An annotation as its annotator last saw it confirmed: version and live regions' versions."""

    annotation_id: uuid.UUID
    version: int
    regions: dict[uuid.UUID, int]


class LoadRecords(BaseModel):
    accepted: list[AcceptedChange] = Field(default_factory=list)
    refused: list[RefusedChange] = Field(default_factory=list)
    known: dict[uuid.UUID, KnownState] = Field(default_factory=dict)
    server_errors: dict[str, int] = Field(default_factory=dict, description="5xx answers per endpoint.")
    retries: int = 0
    retries_mismatched: int = Field(default=0, description="A retry answered otherwise than its first try.")
    stale_accepted: int = Field(default=0, description="A deliberately stale change answered 200.")
    unexpected: dict[str, int] = Field(default_factory=dict, description="Other surprising statuses.")
    state_mismatches: int = Field(
        default=0, description="Opening a task again showed another state than the last one confirmed."
    )
    tasks_submitted: int = 0
    approved: int = 0
    rejected: int = 0
    no_task_left: int = 0
