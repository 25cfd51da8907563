"""Projects carry a Label Studio labeling config.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.interop.labeling_config import DEFAULT_LABELING_CONFIG

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing projects get the workshop's config; new rows get it from the model.
    op.add_column(
        "projects",
        sa.Column("labeling_config", sa.Text(), nullable=False, server_default=DEFAULT_LABELING_CONFIG),
    )
    op.alter_column("projects", "labeling_config", server_default=None)


def downgrade() -> None:
    op.drop_column("projects", "labeling_config")
