"""Each approved task records which annotation is its ground truth; assignments of approved tasks say so.

Approved tasks of the past get the annotation that the masks export used for them: the most recently
updated live one (ties: the most recently created).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TYPE assignment_state ADD VALUE IF NOT EXISTS 'approved'")
    op.add_column("observations", sa.Column("ground_truth_annotation_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "observations_ground_truth_annotation_id_fkey",
        "observations",
        "annotations",
        ["ground_truth_annotation_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.execute(
        """UPDATE observations o SET ground_truth_annotation_id = (
               SELECT a.id FROM annotations a
                WHERE a.observation_id = o.id AND a.deleted_at IS NULL
                ORDER BY a.updated_at DESC, a.created_at DESC, a.id DESC LIMIT 1)
            WHERE o.task_state = 'approved'"""
    )


def downgrade() -> None:
    op.drop_constraint("observations_ground_truth_annotation_id_fkey", "observations", type_="foreignkey")
    op.drop_column("observations", "ground_truth_annotation_id")
    # PostgreSQL cannot drop an enum value: 'approved' stays in assignment_state (assignments keep working).
    op.execute("UPDATE assignments SET state = 'submitted' WHERE state::text = 'approved'")
