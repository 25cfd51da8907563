"""Region lineage: an annotation region remembers its ancestor, the region on the site's previous date it
continues (copied forward, or accepted from a carried-forward prediction); existing accepted carried
predictions get theirs from the prediction.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("ancestor_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_regions_ancestor_id",
        "regions",
        ["ancestor_id"],
        postgresql_where=sa.text("ancestor_id IS NOT NULL"),
    )
    op.execute(
        """UPDATE regions r SET ancestor_id = p.carried_from
             FROM regions p
            WHERE r.accepted_from = p.id AND p.carried_from IS NOT NULL AND r.annotation_id IS NOT NULL"""
    )


def downgrade() -> None:
    op.drop_index("ix_regions_ancestor_id", table_name="regions")
    op.drop_column("regions", "ancestor_id")
