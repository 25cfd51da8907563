"""Topology warnings stored per region by the save that checked them, so that opening a task reads them
instead of checking the whole annotation again.

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: not stored yet; the next open checks the annotation once and stores them.
    op.add_column("annotations", sa.Column("warnings_version", sa.Integer(), nullable=True))
    op.create_table(
        "topology_warnings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=False),
        sa.Column("region_id", sa.Uuid(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("other_region_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_topology_warnings_annotation_id", "topology_warnings", ["annotation_id"])


def downgrade() -> None:
    op.drop_index("ix_topology_warnings_annotation_id", table_name="topology_warnings")
    op.drop_table("topology_warnings")
    op.drop_column("annotations", "warnings_version")
