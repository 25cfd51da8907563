"""Datasets and model versions for retraining on approved labels; the project's model settings, frozen test
sites, and each observation's uncertainty under the champion.

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dataset_state = postgresql.ENUM("building", "ready", "failed", name="dataset_state", create_type=False)
    model_state = postgresql.ENUM(
        "queued", "training", "trained", "failed", "cancelled", name="model_state", create_type=False
    )
    dataset_state.create(op.get_bind(), checkfirst=True)
    model_state.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "datasets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("state", dataset_state, nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("manifest_key", sa.String(length=500), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("classes", sa.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("band_count", sa.Integer(), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_datasets_project_id", "datasets", ["project_id"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("state", model_state, nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("code_version", sa.String(length=100), nullable=False),
        sa.Column("classes", sa.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("in_channels", sa.Integer(), nullable=True),
        sa.Column("normalisation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("curve", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checkpoint_key", sa.String(length=500), nullable=True),
        sa.Column("onnx_key", sa.String(length=500), nullable=True),
        sa.Column("is_champion", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("promotion", sa.String(), nullable=True),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["parent_id"], ["model_versions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_versions_project_id", "model_versions", ["project_id"])
    op.create_index(
        "uq_model_versions_champion",
        "model_versions",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text("is_champion"),
    )
    op.create_index("uq_model_versions_number", "model_versions", ["project_id", "number"], unique=True)
    op.add_column(
        "projects", sa.Column("binary_mining", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("projects", sa.Column("auto_train_every", sa.Integer(), nullable=True))
    op.add_column(
        "projects",
        sa.Column(
            "next_task_order", sa.String(length=20), server_default=sa.text("'series'"), nullable=False
        ),
    )
    op.add_column(
        "projects", sa.Column("promotion_margin", sa.Float(), server_default=sa.text("0.01"), nullable=False)
    )
    op.add_column(
        "projects",
        sa.Column("promotion_max_drop", sa.Float(), server_default=sa.text("0.02"), nullable=False),
    )
    op.add_column("sites", sa.Column("is_test_site", sa.Boolean(), nullable=True))
    op.add_column("observations", sa.Column("uncertainty", sa.Float(), nullable=True))
    op.add_column("observations", sa.Column("uncertainty_model", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("observations", "uncertainty_model")
    op.drop_column("observations", "uncertainty")
    op.drop_column("sites", "is_test_site")
    for column in (
        "promotion_max_drop",
        "promotion_margin",
        "next_task_order",
        "auto_train_every",
        "binary_mining",
    ):
        op.drop_column("projects", column)
    op.drop_table("model_versions")
    op.drop_table("datasets")
    sa.Enum(name="model_state").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="dataset_state").drop(op.get_bind(), checkfirst=True)
