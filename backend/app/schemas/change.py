"""Change over time: a site's timeline (area per class per date) and the change between two dates."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.models.observation import TaskState

# approved: only approved tasks' ground truth; all: every task's standing annotation (drafts too).
Include = Literal["approved", "all"]
AreaUnit = Literal["ha", "px"]
# Where two dates are compared: the site's UTM zone, or the images' shared pixel grid.
ChangeSpace = Literal["utm", "pixel"]
ChangeKind = Literal["gained", "lost"]
# Coordinates of the change polygons: the comparison's own (UTM metres or shared pixels), EPSG:4326, or
# the later image's pixel grid (for the labeling view's layer).
ChangeCrs = Literal["metric", "EPSG:4326", "pixel"]


class UnitReason(BaseModel):
    """Why areas are in pixels, not hectares (machine-readable ``code``; ``message`` is for people)."""

    code: Literal["not_georeferenced"]
    observation_id: uuid.UUID
    message: str


class AreaOnDate(BaseModel):
    label: str
    regions: int
    area: float = Field(description="In the timeline's `unit` (hectares or pixels).")


class TimelineEntry(BaseModel):
    observation_id: uuid.UUID
    index: int
    acquired_on: date | None
    task_state: TaskState
    georeferenced: bool
    thumbnail_url: str | None
    counted: bool = Field(description="Whether its labels count (approved, or any with `include=all`).")
    labels: list[AreaOnDate] = Field(
        description="Area per class of its standing annotation ([] if not counted)."
    )
    predicted: list[AreaOnDate] = Field(description="Area per class of the champion model's prediction.")


class Timeline(BaseModel):
    site_id: uuid.UUID
    site_name: str
    include: Include
    unit: AreaUnit
    reason: UnitReason | None = Field(description="Set when `unit` is px: which image has no georeferencing.")
    classes: list[str]
    champion: str | None = Field(description="The champion model whose predictions are `predicted`.")
    observations: list[TimelineEntry]


class ClassChange(BaseModel):
    label: str
    before: float = Field(description="Area of the class's union on the earlier date.")
    after: float
    gained: float = Field(description="after minus before (the area that is new).")
    lost: float
    unchanged: float


class ChangeEnd(BaseModel):
    observation_id: uuid.UUID
    acquired_on: date | None
    task_state: TaskState


class ChangeFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] = Field(description="A GeoJSON MultiPolygon in the requested `crs`.")
    properties: ChangeProperties


class ChangeProperties(BaseModel):
    label: str
    change: ChangeKind
    area: float = Field(description="In the change's `unit`.")


class Change(BaseModel):
    site_id: uuid.UUID
    before: ChangeEnd
    after: ChangeEnd
    include: Include
    space: ChangeSpace
    metric_crs: str | None = Field(description="The site's UTM CRS (EPSG:326xx/327xx) when `space` is utm.")
    unit: AreaUnit
    reason: UnitReason | None
    classes: list[ClassChange]
    crs: ChangeCrs = Field(description="Coordinates of `features`.")
    features: list[ChangeFeature] = Field(description="The gained and lost polygons, one per class and kind.")


class LineageStep(BaseModel):
    """One date of a region's lineage: the regions of the lineage on it (one, or more where a pit was split
    into several when copied forward) and their area."""

    observation_id: uuid.UUID
    index: int
    acquired_on: date | None
    task_state: TaskState
    region_ids: list[uuid.UUID]
    labels: list[str] = Field(description="Their classes (a pit may be reclassed on a later date).")
    area: float = Field(description="Sum of their stored areas, in the lineage's `unit`.")


class Lineage(BaseModel):
    """A region's ancestors (back through copy-forward and carried-forward predictions) and descendants,
    one step per date that counts and holds one of them, in time order."""

    site_id: uuid.UUID
    region_id: uuid.UUID
    include: Include
    unit: AreaUnit
    reason: UnitReason | None = Field(description="Set when `unit` is px: which image has no georeferencing.")
    steps: list[LineageStep]


# How the overview ranks its sites: by the last interval's change in area, or by its growth in percent.
OverviewOrder = Literal["change", "growth"]


class OverviewPoint(BaseModel):
    observation_id: uuid.UUID
    acquired_on: date | None
    index: int
    area: float = Field(
        description="The class's (or every class's) area on that date, in the overview's unit."
    )


class SiteChangeSummary(BaseModel):
    """One site's series of areas (the sparkline) and its last interval: the last two dates that count."""

    site_id: uuid.UUID
    site_name: str
    dates: int = Field(description="Dates that count in the range.")
    series: list[OverviewPoint]
    before: OverviewPoint | None = Field(
        description="The earlier date of the last interval (null: < 2 dates)."
    )
    after: OverviewPoint | None
    change: float | None = Field(description="after minus before: the area gained (negative: lost), net.")
    growth_pct: float | None = Field(
        description="change over before, in percent; null where before is 0 (it appeared) or < 2 dates."
    )


class ChangeOverview(BaseModel):
    """Every site of the project ranked by the change in its last interval (largest gain first; sites
    with fewer than two dates that count last)."""

    project_id: uuid.UUID
    include: Include
    label: str | None = Field(description="The class counted; null: all classes together.")
    date_from: date | None
    date_to: date | None
    order: OverviewOrder
    unit: AreaUnit
    reason: UnitReason | None = Field(description="Set when `unit` is px: which image has no georeferencing.")
    sites: list[SiteChangeSummary]


ChangeFeature.model_rebuild()
