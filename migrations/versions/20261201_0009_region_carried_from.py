"""Regions remember the region on the previous date that a prediction carries forward (``carried_from``;
no foreign key, like ``accepted_from``: the earlier region may be deleted).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("carried_from", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("regions", "carried_from")
