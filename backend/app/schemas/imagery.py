"""Projects, sites, observations and uploads: I/O schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models.observation import AcquiredSource, GeorefSource, ObservationStatus
from app.models.project import DisplayPreset
from app.schemas.job import JobRead


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    display_preset: DisplayPreset = DisplayPreset.TRUE_COLOR
    labeling_config: str | None = Field(
        default=None, description="Label Studio labeling config (XML); default: Pit, Infrastructure, Outline."
    )


class LabelClassRead(BaseModel):
    name: str
    color: str = Field(description="A CSS colour, as in the config's Label background.")


class LabelingConfigRead(BaseModel):
    config: str
    from_name: str
    to_name: str
    image_variable: str
    classes: list[LabelClassRead]


class LabelingConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str = Field(min_length=1, description="Label Studio labeling config (XML).")


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=10_000)
    display_preset: DisplayPreset | None = None
    annotators_per_task: int | None = Field(
        default=None, ge=1, le=10, description="More than 1: each task is labeled by this many (overlap)."
    )
    annotators_see_others: bool | None = None


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    display_preset: DisplayPreset
    label_classes: list[LabelClassRead]
    annotators_per_task: int
    annotators_see_others: bool
    my_role: str | None = Field(default=None, description="The caller's role in the project.")
    created_at: datetime


class SiteRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    external_id: str | None
    location: dict[str, Any] | None = Field(description="GeoJSON point in EPSG:4326.")
    stretch: dict[str, list[float]] | None
    render_version: int
    observation_count: int


class TileInfo(BaseModel):
    pixel: str = Field(description="URL template of the image's own pixel grid ({z}/{x}/{y}).")
    mercator: str | None = Field(description="URL template in Web Mercator XYZ; null when not georeferenced.")
    minzoom: int
    maxzoom: int
    tile_size: int


class PresetFallbackRead(BaseModel):
    requested: DisplayPreset = Field(description="The project's display preset.")
    shown: DisplayPreset | None = Field(description="What is shown instead; null: the image's own bands.")
    message: str


class ObservationRead(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    site_id: uuid.UUID
    site_name: str
    index: int
    acquired_on: date | None
    acquired_source: AcquiredSource = Field(
        description="Where the date came from: the sidecar, the file's metadata tags, a Sentinel-2 or "
        "Landsat file name, a correction (manual), or none."
    )
    original_filename: str
    content_hash: str
    size_bytes: int
    driver: str
    width: int
    height: int
    band_count: int
    band_names: list[str]
    dtype: str
    nodata: float | None
    georef_source: GeorefSource
    crs: str | None
    crs_proj4: str | None = Field(
        default=None, description="The CRS as a PROJ string, for clients that reproject (the basemap)."
    )
    transform: list[float] | None = Field(
        description="Pixel -> CRS affine (a, b, c, d, e, f) as in rasterio."
    )
    footprint: dict[str, Any] | None = Field(description="GeoJSON polygon in EPSG:4326.")
    georeference_job_id: uuid.UUID | None = Field(
        default=None,
        description="The job writing a corrected georeferencing into the image; Web Mercator tiles wait "
        "for it (409).",
    )
    presets: list[DisplayPreset] = Field(
        description="The display presets this image supports (`?preset=` of its tiles); empty for a grey "
        "image, shown as its band."
    )
    display_preset: DisplayPreset | None = Field(
        description="What its tiles and thumbnail show without `?preset=`; null: its own bands."
    )
    preset_fallback: PresetFallbackRead | None = Field(
        description="Set when the project's display preset needs bands this image lacks: what it shows "
        "instead."
    )
    status: ObservationStatus
    error: str | None
    ingest_job_id: uuid.UUID | None
    thumbnail_url: str | None
    tiles: TileInfo | None = Field(description="Present once the observation is ready.")
    created_at: datetime


class ObservationList(BaseModel):
    items: list[ObservationRead]
    total: int


class RejectedFile(BaseModel):
    filename: str
    code: str
    message: str


class UploadResult(BaseModel):
    job: JobRead | None
    observations: list[ObservationRead]
    rejected: list[RejectedFile]
