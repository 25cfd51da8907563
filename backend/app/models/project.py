"""Projects and their sites (a mine watched over time)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum
from app.interop.labeling_config import DEFAULT_LABELING_CONFIG


class DisplayPreset(enum.StrEnum):
    """How images are shown; app.imagery.bands says which images support which."""

    TRUE_COLOR = "true_color"
    FALSE_COLOR = "false_color"
    SWIR = "swir"
    HILLSHADE = "hillshade"  # single-band float rasters (DEMs): shaded relief, lit from the north-west
    ELEVATION = "elevation"  # DEMs: a colour ramp over the site's display range


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("annotators_per_task BETWEEN 1 AND 10", name="annotators_per_task_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # A Label Studio labeling config (XML); its <PolygonLabels> are the project's classes.
    labeling_config: Mapped[str] = mapped_column(Text, default=DEFAULT_LABELING_CONFIG)
    display_preset: Mapped[DisplayPreset] = mapped_column(
        str_enum(DisplayPreset, "display_preset"),
        default=DisplayPreset.TRUE_COLOR,
    )
    # More than one asks for overlap: each task is labeled independently by this many annotators, and
    # the reviewer sees their agreement.
    annotators_per_task: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # Whether annotators may read other annotators' annotations (drafts are private by default).
    annotators_see_others: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # The segmentation model: one "mining" target (the union of the classes) instead of one per class.
    binary_mining: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # A dataset + training round after this many newly approved tasks (None: only by hand).
    auto_train_every: Mapped[int | None]
    # What "next task" hands out first: the series in order, or the tasks the champion is least sure of.
    next_task_order: Mapped[str] = mapped_column(
        String(20), default="series", server_default=text("'series'")
    )
    # Promotion: a candidate must beat the champion's mean test IoU by this, and no class may fall more.
    promotion_margin: Mapped[float] = mapped_column(default=0.01, server_default=text("0.01"))
    promotion_max_drop: Mapped[float] = mapped_column(default=0.02, server_default=text("0.02"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_sites_project_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[WKBElement | None] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    # Per-band display range [low, high] (2nd and 98th percentile over all the site's observations),
    # keyed by 1-based band index, so that every observation of the site is shown alike.
    stretch: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Bumped whenever the stretch changes; tile URLs carry it, so cached tiles never go stale.
    render_version: Mapped[int] = mapped_column(default=0)
    # Drawn once, the first time a dataset needs it, then frozen: a test site's images never train a model.
    is_test_site: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
