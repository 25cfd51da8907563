"""Predictions may come without a class (SAM's pre-labels where nothing says which: the annotator picks one
when accepting), and carried-forward predictions say how much their shape changed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("regions", "label", existing_type=sa.String(length=200), nullable=True)
    op.create_check_constraint(
        "people_name_a_class", "regions", "label IS NOT NULL OR prediction_id IS NOT NULL"
    )
    op.add_column("regions", sa.Column("change_score", sa.Float(), nullable=True))
    op.create_check_constraint(
        "change_score_fraction",
        "regions",
        "change_score IS NULL OR (change_score >= 0 AND change_score <= 1)",
    )


def downgrade() -> None:
    op.drop_constraint("change_score_fraction", "regions", type_="check")
    op.drop_column("regions", "change_score")
    op.drop_constraint("people_name_a_class", "regions", type_="check")
    op.execute("DELETE FROM regions WHERE label IS NULL")
    op.alter_column("regions", "label", existing_type=sa.String(length=200), nullable=False)
