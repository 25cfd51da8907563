"""Annotations (a person's regions on a task), predictions (a model's), regions, and their history.

As in Label Studio, a task is one observation of a project. Region geometry is canonical in the image's
pixel space (SRID 0, x = column, y = row); a copy in EPSG:4326 is derived for georeferenced observations
(docs/adr/2026-11-22-label-geometry-in-pixel-space.md).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, str_enum


class RegionSource(enum.StrEnum):
    HUMAN = "human"
    SAM = "sam"
    MODEL = "model"
    IMPORT = "import"


class RevisionAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"


class Annotation(Base):
    __tablename__ = "annotations"
    __table_args__ = (
        Index("uq_annotations_import_key", "observation_id", "import_key", unique=True,
              postgresql_where=text("import_key IS NOT NULL")),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    observation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Raised by every change to the annotation or any of its regions; a save names the version it read.
    version: Mapped[int] = mapped_column(default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a tombstone
    # Seconds spent labeling, as Label Studio counts them (kept from imports; None when unknown).
    lead_time: Mapped[float | None] = mapped_column(Float)
    # What an import made this from (a hash of the source item), so that importing it again adds nothing.
    import_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The version whose topology warnings the topology_warnings rows are; None or older: compute them again
    # (an import, or a write that did not check topology), docs/adr/2026-12-02-stored-topology-warnings.md.
    warnings_version: Mapped[int | None] = mapped_column()


class StoredWarning(Base):
    """One topology warning of an annotation's region, as its last save checked it (opening a task reads
    these instead of checking every region's topology again)."""

    __tablename__ = "topology_warnings"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    annotation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    region_id: Mapped[uuid.UUID]
    rule: Mapped[str] = mapped_column(String(64))
    other_region_id: Mapped[uuid.UUID | None]


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score_fraction"),
        Index("uq_predictions_import_key", "observation_id", "import_key", unique=True,
              postgresql_where=text("import_key IS NOT NULL")),
    )  # fmt: skip

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    observation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("observations.id", ondelete="CASCADE"), index=True
    )
    model_version: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    import_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Region(Base):
    __tablename__ = "regions"
    __table_args__ = (
        CheckConstraint("(annotation_id IS NULL) <> (prediction_id IS NULL)", name="one_owner"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score_fraction"),
        CheckConstraint("label IS NOT NULL OR prediction_id IS NOT NULL", name="people_name_a_class"),
        CheckConstraint(
            "change_score IS NULL OR (change_score >= 0 AND change_score <= 1)", name="change_score_fraction"
        ),
        # Most regions are people's: index the prediction link only where there is one.
        Index(
            "ix_regions_prediction_id", "prediction_id", postgresql_where=text("prediction_id IS NOT NULL")
        ),
        # Lineage walks forward: which regions continue this one (few regions have an ancestor).
        Index("ix_regions_ancestor_id", "ancestor_id", postgresql_where=text("ancestor_id IS NOT NULL")),
        # Viewport queries ask for one observation's live regions in a box: one GiST index on both
        # (btree_gist) finds them directly, whatever the number of observations sharing the pixel space.
        Index(
            "ix_regions_observation_geom",
            "observation_id",
            "geom",
            postgresql_using="gist",
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)  # clients may choose it
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    observation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"))
    annotation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    prediction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    # None only for a prediction whose class nothing could tell (the annotator picks one when accepting).
    label: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[RegionSource] = mapped_column(
        str_enum(RegionSource, "region_source"), default=RegionSource.HUMAN
    )
    score: Mapped[float | None] = mapped_column(Float)
    # The prediction region this one was accepted from (no foreign key: predictions may be deleted later).
    accepted_from: Mapped[uuid.UUID | None]
    # A carried-forward prediction: 1 - IoU of the previous date's shape and this one (0: unchanged).
    change_score: Mapped[float | None] = mapped_column(Float)
    # A prediction's region on the previous date of the site that this one carries forward (no foreign key
    # either: the earlier prediction may be deleted).
    carried_from: Mapped[uuid.UUID | None]
    # An annotation region's ancestor: the region on the site's previous date it continues (copied forward,
    # or accepted from a carried-forward prediction). Set when the region is made and kept for life; no
    # foreign key, like the two above (the earlier region may be deleted). Region lineage follows it.
    ancestor_id: Mapped[uuid.UUID | None]
    # No SRID: pixel space is no coordinate reference system PostGIS knows (stored as SRID 0).
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", spatial_index=False))
    geom_wgs84: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)
    )
    area_px: Mapped[float] = mapped_column(Float)
    area_ha: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(default=1)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Revision(Base):
    """Append-only history (a database trigger refuses UPDATE and DELETE): who changed what, when."""

    __tablename__ = "revisions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    annotation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("annotations.id", ondelete="CASCADE"), index=True
    )
    region_id: Mapped[uuid.UUID | None]
    action: Mapped[RevisionAction] = mapped_column(str_enum(RevisionAction, "revision_action"))
    annotation_version: Mapped[int]  # the annotation's version after this change
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IdempotencyRecord(Base):
    """The answer given to a request with an Idempotency-Key, replayed when the same request comes again."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body hash
    status_code: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
