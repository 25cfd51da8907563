"""Projects, sites, observations and uploads: I/O schemas."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.observation import AcquiredSource, GeorefSource, ObservationStatus
from app.models.project import DisplayPreset
from app.schemas.base import RequestModel
from app.schemas.job import JobRead


class ProjectCreate(RequestModel):
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


class LabelingConfigUpdate(RequestModel):
    config: str = Field(min_length=1, description="Label Studio labeling config (XML).")


NextTaskOrder = Literal["series", "uncertainty"]


class ProjectUpdate(RequestModel):
    description: str | None = Field(default=None, max_length=10_000)
    display_preset: DisplayPreset | None = None
    annotators_per_task: int | None = Field(
        default=None, ge=1, le=10, description="More than 1: each task is labeled by this many (overlap)."
    )
    annotators_see_others: bool | None = None
    # The segmentation model (README "Retraining"):
    binary_mining: bool | None = Field(
        default=None, description="Train one 'mining' class (the union of the classes) instead of each."
    )
    auto_train_every: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Queue a training round after this many newly approved tasks; null turns it off.",
    )
    next_task_order: NextTaskOrder | None = Field(
        default=None, description="'uncertainty': next task hands out what the champion is least sure of."
    )
    promotion_margin: float | None = Field(default=None, ge=0, le=1)
    promotion_max_drop: float | None = Field(default=None, ge=0, le=1)


class ProjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    display_preset: DisplayPreset
    label_classes: list[LabelClassRead]
    annotators_per_task: int
    annotators_see_others: bool
    binary_mining: bool
    auto_train_every: int | None
    next_task_order: NextTaskOrder
    promotion_margin: float
    promotion_max_drop: float
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


class GeoreferenceUpdate(RequestModel):
    """Where the image lies, given one way: a ``bbox`` (with ``crs``, default EPSG:4326), a centre with an
    extent (north up in the local UTM zone), or a ``transform`` or ``world_file`` with its ``crs``."""

    bbox: list[float] | None = Field(
        default=None, min_length=4, max_length=4, description="west, south, east, north in `crs`."
    )
    crs: str | None = Field(
        default=None,
        min_length=1,
        max_length=20_000,
        description="Any CRS PROJ knows: EPSG:32719, WKT, a PROJ string. For bbox (default EPSG:4326), "
        "transform and world_file.",
    )
    center_lat: float | None = Field(default=None, ge=-84, le=84)
    center_lon: float | None = Field(default=None, ge=-180, le=180)
    extent_m: float | None = Field(default=None, ge=1, le=1_000_000, description="Square ground extent.")
    extent_x_m: float | None = Field(default=None, ge=1, le=1_000_000)
    extent_y_m: float | None = Field(default=None, ge=1, le=1_000_000)
    transform: list[float] | None = Field(
        default=None,
        min_length=6,
        max_length=6,
        description="Pixel corners -> `crs` (a, b, c, d, e, f), as ObservationRead's `transform`.",
    )
    world_file: list[float] | None = Field(
        default=None,
        min_length=6,
        max_length=6,
        description="The six lines of a world file (A, D, B, E, C, F; C, F: the top-left pixel's centre).",
    )


class ObservationUpdate(RequestModel):
    """A correction after upload; fields left out stay as they are."""

    georeference: GeoreferenceUpdate | None = Field(
        default=None,
        description="New georeferencing. Regions keep their pixels; their EPSG:4326 copies and hectares are "
        "derived again, and the image is written again in a `georeference` job.",
    )
    acquired_on: date | None = Field(default=None, description="The acquisition date; null clears it.")


class ObservationPatchResult(BaseModel):
    observation: ObservationRead
    job: JobRead | None = Field(
        description="The `georeference` job that writes the new georeferencing into the image (Web "
        "Mercator tiles follow it); null when nothing needs writing."
    )
    regions_updated: int = Field(
        description="Regions whose EPSG:4326 geometry and hectares were derived again."
    )


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
