"""projects sites observations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "display_preset",
            sa.Enum("true_color", "false_color", "swir", name="display_preset"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_geospatial_table(
        "sites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("stretch", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("render_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_sites_project_name"),
    )
    op.create_geospatial_index(
        "idx_sites_location", "sites", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_sites_project_id"), "sites", ["project_id"], unique=False)
    op.create_geospatial_table(
        "observations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("acquired_on", sa.Date(), nullable=True),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("driver", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=False),
        sa.Column("band_names", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("nodata", sa.Float(), nullable=True),
        sa.Column("has_alpha", sa.Boolean(), nullable=False),
        sa.Column("georef_source", sa.Enum("none", "file", "sidecar", name="georef_source"), nullable=False),
        sa.Column("crs", sa.Text(), nullable=True),
        sa.Column("transform", sa.ARRAY(sa.Float()), nullable=True),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "status", sa.Enum("processing", "ready", "failed", name="observation_status"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("original_key", sa.String(length=500), nullable=False),
        sa.Column("cog_key", sa.String(length=500), nullable=True),
        sa.Column("thumbnail_key", sa.String(length=500), nullable=True),
        sa.Column("ingest_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["ingest_job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "content_hash", name="uq_observations_project_hash"),
        sa.UniqueConstraint("site_id", "index", name="uq_observations_site_index"),
    )
    op.create_geospatial_index(
        "idx_observations_footprint",
        "observations",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_observations_project_id"), "observations", ["project_id"], unique=False)
    op.create_index("ix_observations_site_acquired", "observations", ["site_id", "acquired_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_observations_site_acquired", table_name="observations")
    op.drop_index(op.f("ix_observations_project_id"), table_name="observations")
    op.drop_geospatial_index(
        "idx_observations_footprint",
        table_name="observations",
        postgresql_using="gist",
        column_name="footprint",
    )
    op.drop_geospatial_table("observations")
    op.drop_index(op.f("ix_sites_project_id"), table_name="sites")
    op.drop_geospatial_index(
        "idx_sites_location", table_name="sites", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("sites")
    op.drop_table("projects")
    for enum_name in ("observation_status", "georef_source", "display_preset"):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
