"""One GiST index on (observation_id, geom) for viewport queries, instead of geom alone; the
prediction link indexed only where there is one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.drop_index("ix_regions_observation_live", table_name="regions")
    op.execute("DROP INDEX IF EXISTS idx_regions_geom")
    op.drop_index("ix_regions_prediction_id", table_name="regions")
    op.create_index(
        "ix_regions_prediction_id", "regions", ["prediction_id"], postgresql_where="prediction_id IS NOT NULL"
    )
    op.create_index(
        "ix_regions_observation_geom",
        "regions",
        ["observation_id", "geom"],
        postgresql_using="gist",
        postgresql_where="deleted_at IS NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_regions_observation_geom", table_name="regions")
    op.drop_index("ix_regions_prediction_id", table_name="regions")
    op.create_index("ix_regions_prediction_id", "regions", ["prediction_id"])
    op.execute("CREATE INDEX idx_regions_geom ON regions USING gist (geom)")
    op.create_index(
        "ix_regions_observation_live", "regions", ["observation_id"], postgresql_where="deleted_at IS NULL"
    )
