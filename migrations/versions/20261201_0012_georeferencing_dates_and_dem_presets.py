"""Observations record where their date came from (``acquired_source``) and the job that writes their COG
again after a georeferencing correction; world files and corrections are georeferencing sources of their own;
DEMs have the display presets ``hillshade`` and ``elevation``.

Dates stored before this revision could only come from a sidecar, so dated rows get ``sidecar``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACQUIRED_SOURCE = sa.Enum("sidecar", "metadata", "filename", "manual", "none", name="acquired_source")


def upgrade() -> None:
    op.execute("ALTER TYPE georef_source ADD VALUE IF NOT EXISTS 'world_file'")
    op.execute("ALTER TYPE georef_source ADD VALUE IF NOT EXISTS 'manual'")
    op.execute("ALTER TYPE display_preset ADD VALUE IF NOT EXISTS 'hillshade'")
    op.execute("ALTER TYPE display_preset ADD VALUE IF NOT EXISTS 'elevation'")
    ACQUIRED_SOURCE.create(op.get_bind(), checkfirst=True)
    op.add_column(
        "observations",
        sa.Column("acquired_source", ACQUIRED_SOURCE, server_default="none", nullable=False),
    )
    op.execute("UPDATE observations SET acquired_source = 'sidecar' WHERE acquired_on IS NOT NULL")
    op.add_column("observations", sa.Column("georeference_job_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        "observations_georeference_job_id_fkey",
        "observations",
        "jobs",
        ["georeference_job_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint("observations_georeference_job_id_fkey", "observations", type_="foreignkey")
    op.drop_column("observations", "georeference_job_id")
    op.drop_column("observations", "acquired_source")
    ACQUIRED_SOURCE.drop(op.get_bind(), checkfirst=True)
    # PostgreSQL cannot drop a value from an enum: the new values stay, unused. World files and corrections
    # were georeferencing from outside the file, which the older code calls 'sidecar' (its COG is written
    # with the row's georeferencing); DEMs are shown grey again.
    op.execute(
        "UPDATE observations SET georef_source = 'sidecar' "
        "WHERE georef_source::text IN ('world_file', 'manual')"
    )
    op.execute(
        "UPDATE projects SET display_preset = 'true_color' "
        "WHERE display_preset::text IN ('hillshade', 'elevation')"
    )
