"""annotations predictions regions revisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("observation_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_annotations_observation_id"), "annotations", ["observation_id"], unique=False)
    op.create_index(op.f("ix_annotations_project_id"), "annotations", ["project_id"], unique=False)
    op.create_table(
        "predictions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("observation_id", sa.Uuid(), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score_fraction"),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_predictions_observation_id"), "predictions", ["observation_id"], unique=False)
    op.create_index(op.f("ix_predictions_project_id"), "predictions", ["project_id"], unique=False)
    op.create_geospatial_table(
        "regions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("observation_id", sa.Uuid(), nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=True),
        sa.Column("prediction_id", sa.Uuid(), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Enum("human", "sam", "model", "import", name="region_source"), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("accepted_from", sa.Uuid(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "geom_wgs84",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("area_px", sa.Float(), nullable=False),
        sa.Column("area_ha", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(annotation_id IS NULL) <> (prediction_id IS NULL)", name="one_owner"),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 1)", name="score_fraction"),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index(
        "idx_regions_geom", "regions", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_geospatial_index(
        "idx_regions_geom_wgs84",
        "regions",
        ["geom_wgs84"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_regions_annotation_id"), "regions", ["annotation_id"], unique=False)
    op.create_index(
        "ix_regions_observation_live",
        "regions",
        ["observation_id"],
        unique=False,
        postgresql_where="deleted_at IS NULL",
    )
    op.create_index(op.f("ix_regions_prediction_id"), "regions", ["prediction_id"], unique=False)
    op.create_index(op.f("ix_regions_project_id"), "regions", ["project_id"], unique=False)
    op.create_table(
        "revisions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=False),
        sa.Column("region_id", sa.Uuid(), nullable=True),
        sa.Column(
            "action", sa.Enum("create", "update", "delete", "restore", name="revision_action"), nullable=False
        ),
        sa.Column("annotation_version", sa.Integer(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_revisions_annotation_id"), "revisions", ["annotation_id"], unique=False)

    # Revisions are history: the database itself refuses to change or remove them.
    op.execute(
        """
        CREATE FUNCTION revisions_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'revisions are append-only: % is not allowed', TG_OP;
        END $$;
        CREATE TRIGGER revisions_append_only BEFORE UPDATE OR DELETE ON revisions
            FOR EACH ROW EXECUTE FUNCTION revisions_are_append_only();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS revisions_append_only ON revisions")
    op.execute("DROP FUNCTION IF EXISTS revisions_are_append_only()")
    op.drop_index(op.f("ix_revisions_annotation_id"), table_name="revisions")
    op.drop_table("revisions")
    op.drop_index(op.f("ix_regions_project_id"), table_name="regions")
    op.drop_index(op.f("ix_regions_prediction_id"), table_name="regions")
    op.drop_index("ix_regions_observation_live", table_name="regions", postgresql_where="deleted_at IS NULL")
    op.drop_index(op.f("ix_regions_annotation_id"), table_name="regions")
    op.drop_geospatial_index(
        "idx_regions_geom_wgs84", table_name="regions", postgresql_using="gist", column_name="geom_wgs84"
    )
    op.drop_geospatial_index(
        "idx_regions_geom", table_name="regions", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("regions")
    op.drop_index(op.f("ix_predictions_project_id"), table_name="predictions")
    op.drop_index(op.f("ix_predictions_observation_id"), table_name="predictions")
    op.drop_table("predictions")
    op.drop_index(op.f("ix_annotations_project_id"), table_name="annotations")
    op.drop_index(op.f("ix_annotations_observation_id"), table_name="annotations")
    op.drop_table("annotations")
    op.drop_table("idempotency_keys")
    for enum_name in ("revision_action", "region_source"):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
