"""Annotations and regions: GeoJSON in and out (pixel coordinates: x = column, y = row)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.labels.geometry import GeometryChangeCode, GeometryProblem
from app.labels.topology import TopologyRule
from app.models.annotation import RegionSource, RevisionAction
from app.schemas.base import RequestModel
from app.schemas.errors import ErrorRead


class RegionIn(RequestModel):
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
    ancestor_id: uuid.UUID | None = Field(
        default=None,
        description="The region on an earlier date of the site that this one continues (copy-forward); read "
        "only when the region is made (a region keeps its ancestor), and taken from a carried-forward "
        "prediction it is accepted from when left out.",
    )


class RegionAdd(RegionIn):
    """One region added to an annotation, with the annotation version it is based on (or If-Match)."""

    version: int | None = Field(default=None, description="The annotation's version (or If-Match).")


class PredictionRegionIn(RegionIn):
    carried_from: uuid.UUID | None = Field(
        default=None,
        description="The region on the site's previous observation that this one carries forward.",
    )


class AnnotationCreate(RequestModel):
    regions: list[RegionIn] = Field(default_factory=list)
    copy_from: uuid.UUID | None = Field(
        default=None,
        description="Start from a copy of this annotation of the same task (a reviewer's own corrected "
        "version, to approve as the ground truth); instead of `regions`.",
    )


class AnnotationSave(RequestModel):
    version: int | None = Field(default=None, description="The version this save is based on (or If-Match).")
    regions: list[RegionIn]


class RegionChangeIn(RegionIn):
    """An added or changed region of a save of changes: its id is required, so a retry cannot add it twice."""

    id: uuid.UUID = Field(description="The region's id (client-chosen UUID for a new region).")


class AnnotationChanges(RequestModel):
    """What changed since the version the client last had confirmed (the autosave's body)."""

    version: int | None = Field(default=None, description="The version this save is based on (or If-Match).")
    regions: list[RegionChangeIn] = Field(
        default_factory=list, description="Added or changed regions, each whole (by id: added or replaced)."
    )
    deleted: list[uuid.UUID] = Field(default_factory=list, description="Ids of regions deleted.")


class RestoreRequest(RequestModel):
    version: int = Field(ge=1, description="The earlier version to bring back (as a new version).")
    based_on_version: int | None = Field(default=None, description="The current version (or If-Match).")


class RegionProperties(BaseModel):
    """A region's properties, the same wherever a region is sent (annotations, single regions, the viewport,
    approved regions, predictions)."""

    label: str | None = Field(
        description="The class; null only for a prediction nothing could class (pick one when accepting)."
    )
    source: RegionSource
    score: float | None = Field(description="The model's confidence (0-1), for machine-made regions.")
    version: int = Field(description="The region's own version (If-Match of the single-region routes).")
    area_px: float = Field(description="Area in pixels.")
    area_ha: float | None = Field(description="Area in hectares on the ellipsoid; georeferenced images only.")
    annotation_id: uuid.UUID | None = Field(description="The annotation it belongs to (or null).")
    prediction_id: uuid.UUID | None = Field(description="The prediction it belongs to (or null).")
    model_version: str | None = Field(description="The prediction's model version; null for annotations.")
    accepted_from: uuid.UUID | None = Field(description="The prediction region it was accepted from.")
    carried_from: uuid.UUID | None = Field(
        description="A prediction's region on the site's previous observation that it carries forward."
    )
    ancestor_id: uuid.UUID | None = Field(
        default=None,
        description="An annotation region's ancestor: the region on the site's previous date it continues "
        "(its lineage: GET /api/projects/{project_id}/sites/{site_id}/regions/{region_id}/lineage).",
    )
    change_score: float | None = Field(
        default=None,
        description="Carried forward: 1 - IoU of the previous date's shape and this one (0: unchanged).",
    )
    geometry_wgs84: dict[str, Any] | None = Field(
        default=None,
        description="The polygon in EPSG:4326 (georeferenced images) in annotation and single-region reads; "
        "the viewport leaves it out (ask it for crs=EPSG:4326 instead).",
    )


class RegionFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: dict[str, Any]
    properties: RegionProperties


class GeometryChangeRead(BaseModel):
    """What ``repair`` or ``clip`` did to a region's geometry (the region then has the server's shape)."""

    model_config = ConfigDict(from_attributes=True)

    region_id: uuid.UUID
    code: GeometryChangeCode
    message: str = Field(description="For people; clients act on `code` and `region_id`.")


class TopologyWarningCodeRead(BaseModel):
    """A topology warning without its text: clients word it from ``code`` (a save of changes answers with
    thousands of them in a dense annotation, and their text was most of its bytes)."""

    model_config = ConfigDict(from_attributes=True)

    code: TopologyRule
    region_id: uuid.UUID
    other_region_id: uuid.UUID | None = Field(
        description="The region it conflicts with (the Infrastructure a Pit overlaps); null for rules about "
        "the region alone."
    )


class TopologyWarningRead(TopologyWarningCodeRead):
    """A mine topology rule a region does not meet (the save stands)."""

    message: str = Field(description="For people; clients act on `code` and `region_id`.")


class RegionErrorRead(ErrorRead):
    """The body of a refused region (422, or 409 for a taken id): which region, and for geometry why. The
    Error body, so a request that does not match the schema (``request_invalid``) fits it too."""

    model_config = ConfigDict(title="RegionErrorRead")

    region_id: uuid.UUID | None = Field(default=None, description="The region's id, where it has one.")
    region_index: int | None = Field(
        default=None,
        description="Its 0-based position in the request's `regions`; null for single-region routes.",
    )
    reason: GeometryProblem | None = Field(
        default=None, description="Why the geometry was refused (region_geometry_invalid only)."
    )


class AnnotationRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    observation_id: uuid.UUID
    created_by: uuid.UUID | None = Field(default=None, description="Whose annotation it is.")
    version: int
    created_at: datetime
    updated_at: datetime
    regions: list[RegionFeature]
    changes: list[GeometryChangeRead] = Field(default_factory=list, description="What repair/clip changed.")
    warnings: list[TopologyWarningRead] = Field(
        default_factory=list, description="Mine topology rules not met."
    )


class AnnotationOpenRead(AnnotationRead):
    """An annotation as the task's list sends it (what opening a task reads): the topology warnings without
    their text, which was a third of the bytes of a dense 10,000-region annotation; clients word them from
    `code`. The single-annotation read and the saves' answers keep the text."""

    warnings: list[TopologyWarningCodeRead] = Field(  # type: ignore[assignment]
        default_factory=list, description="Mine topology rules not met (no text: word them from `code`)."
    )


class AnnotationStreamCounts(BaseModel):
    annotations: int = Field(description="How many annotations the stream held.")
    regions: int = Field(description="How many regions, of all of them together.")


class AnnotationStreamLine(BaseModel):
    """One line of the streamed task's annotations (`/annotations/stream`, NDJSON): exactly one field is not
    null. Per annotation, its `annotation` (with `regions` and `warnings` empty), then its regions in
    `regions` lines (oldest first, up to `page_size` each), then its `warnings`; `end` last, with the
    counts. A stream without its `end` line was cut off: it is not the whole task."""

    annotation: AnnotationOpenRead | None = None
    regions: list[RegionFeature] | None = None
    warnings: list[TopologyWarningCodeRead] | None = None
    end: AnnotationStreamCounts | None = None


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


class SavedRegionRead(BaseModel):
    """A region a save of changes stored: its id and its own version now (If-Match of the region routes)."""

    id: uuid.UUID
    version: int


class AnnotationChangesRead(BaseModel):
    """The answer to a save of changes: what the client does not know already. The regions are stored as
    they were sent, except those in ``changes`` (clipped, repaired), which come back whole in ``regions``;
    ``saved`` gives every stored region's new version, so an accept-all of thousands is not echoed back."""

    id: uuid.UUID
    version: int = Field(description="The annotation's version after the save (the next save's base).")
    updated_at: datetime
    saved: list[SavedRegionRead] = Field(
        description="The request's regions, each with its version as stored (all of them, changed or not)."
    )
    regions: list[RegionFeature] = Field(
        description="Only the request's regions the server changed (see `changes`), as stored; the others "
        "are stored exactly as sent."
    )
    deleted: list[uuid.UUID] = Field(description="The regions this save deleted.")
    changes: list[GeometryChangeRead] = Field(default_factory=list, description="What repair/clip changed.")
    warnings: list[TopologyWarningCodeRead] = Field(
        default_factory=list, description="Topology rules not met, by the regions in `checked` (no text)."
    )
    checked: list[uuid.UUID] | None = Field(
        description="The regions whose topology was checked again (the saved ones and their neighbours): "
        "their warnings are `warnings`, the others' stand. Null: the whole annotation was checked and "
        "`warnings` are all of its warnings."
    )


class ChangesSinceRead(BaseModel):
    """A stale save of changes' 409 `current`: what changed after the client's version."""

    version: int = Field(description="The annotation's current version.")
    since: int | None = Field(
        description="The client's version these changes follow; null: `regions` is the whole current state."
    )
    regions: list[dict[str, Any]] = Field(
        description="Regions added or changed since, as stored in revisions (id, label, geometry ...)."
    )
    deleted: list[uuid.UUID] = Field(description="Regions deleted since.")


class ChangeConflictRead(BaseModel):
    """The body of a 409 to a stale save of changes."""

    detail: str
    code: Literal["version_conflict"]
    current: ChangesSinceRead
