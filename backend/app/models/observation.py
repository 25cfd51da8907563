"""Observations: one image of a site at one time, with its raster facts and its files."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum


class ObservationStatus(enum.StrEnum):
    PROCESSING = "processing"  # original stored, Cloud-Optimized GeoTIFF being made
    READY = "ready"
    FAILED = "failed"


class TaskState(enum.StrEnum):
    """Where the observation stands as a labeling task (app.services.workflow holds the transitions)."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"  # back with its annotators for rework


class GeorefSource(enum.StrEnum):
    NONE = "none"  # pixel space only
    FILE = "file"  # the file's own CRS and transform
    SIDECAR = "sidecar"  # a sidecar's bounding box (in its CRS), or its centre and extent (local UTM)
    WORLD_FILE = "world_file"  # a world file (.pgw, .jgw, .wld) or .aux.xml beside the image
    MANUAL = "manual"  # corrected after upload (PATCH /api/observations/{id})


class AcquiredSource(enum.StrEnum):
    """Where an observation's acquisition date came from (the first that gives one, in this order)."""

    SIDECAR = "sidecar"
    METADATA = "metadata"  # the file's tags (TIFFTAG_DATETIME, ACQUISITIONDATETIME, Sentinel-2, Landsat)
    FILENAME = "filename"  # a Sentinel-2 or Landsat product name
    MANUAL = "manual"  # corrected after upload
    NONE = "none"


class Observation(Base):
    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash", name="uq_observations_project_hash"),
        UniqueConstraint("site_id", "index", name="uq_observations_site_index"),
        Index("ix_observations_site_acquired", "site_id", "acquired_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    index: Mapped[int]
    acquired_on: Mapped[date | None] = mapped_column(Date)
    acquired_source: Mapped[AcquiredSource] = mapped_column(
        str_enum(AcquiredSource, "acquired_source"),
        default=AcquiredSource.NONE,
        server_default=AcquiredSource.NONE.value,
    )
    original_filename: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    driver: Mapped[str] = mapped_column(String(16))
    width: Mapped[int]
    height: Mapped[int]
    band_count: Mapped[int]
    band_names: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    dtype: Mapped[str] = mapped_column(String(16))
    nodata: Mapped[float | None] = mapped_column(Float)
    has_alpha: Mapped[bool] = mapped_column(default=False)
    georef_source: Mapped[GeorefSource] = mapped_column(str_enum(GeorefSource, "georef_source"))
    crs: Mapped[str | None] = mapped_column(Text)
    transform: Mapped[list[float] | None] = mapped_column(ARRAY(Float))
    footprint: Mapped[WKBElement | None] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=True))
    status: Mapped[ObservationStatus] = mapped_column(
        str_enum(ObservationStatus, "observation_status"), default=ObservationStatus.PROCESSING
    )
    error: Mapped[str | None] = mapped_column(Text)
    task_state: Mapped[TaskState] = mapped_column(
        str_enum(TaskState, "task_state"), default=TaskState.NEW, server_default=TaskState.NEW.value
    )
    original_key: Mapped[str] = mapped_column(String(500))
    cog_key: Mapped[str | None] = mapped_column(String(500))
    thumbnail_key: Mapped[str | None] = mapped_column(String(500))
    ingest_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    # How unsure the champion model is of this image (mean per-pixel entropy, flip-averaged), and which
    # model version said so; "next task" may hand out the least certain first.
    uncertainty: Mapped[float | None] = mapped_column(Float)
    uncertainty_model: Mapped[str | None] = mapped_column(String(200))
    # The annotation an approved task stands for (app.services.ground_truth); None until approved.
    ground_truth_annotation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="SET NULL", use_alter=True)
    )
    # The `georeference` job writing the COG again after a correction; until it is done, the COG still
    # carries the old georeferencing, so Web Mercator tiles wait (409).
    georeference_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def is_georeferenced(self) -> bool:
        return self.georef_source != GeorefSource.NONE
