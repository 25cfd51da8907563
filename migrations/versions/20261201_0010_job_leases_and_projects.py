"""Jobs hold a lease (token, host, pid, heartbeat), belong to a project, log their attempts, can be cancelled.

Existing rows are brought to the typed parameter models: the project id moves out of the parameters of
export and render jobs into the new column, and probe results learn their attempt.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TYPE job_state ADD VALUE IF NOT EXISTS 'cancelled'")
    op.add_column("jobs", sa.Column("project_id", sa.Uuid(), nullable=True))
    op.add_column("jobs", sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False))
    op.add_column(
        "jobs",
        sa.Column(
            "attempt_log", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
    )
    op.add_column("jobs", sa.Column("lease_token", sa.Uuid(), nullable=True))
    op.add_column("jobs", sa.Column("lease_host", sa.String(length=255), nullable=True))
    op.add_column("jobs", sa.Column("lease_pid", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("jobs", "max_attempts", server_default=None)
    op.alter_column("jobs", "attempt_log", server_default=None)
    op.create_foreign_key(
        "jobs_project_id_fkey", "jobs", "projects", ["project_id"], ["id"], ondelete="CASCADE"
    )
    op.create_check_constraint("max_attempts_positive", "jobs", "max_attempts >= 1")
    op.create_index("ix_jobs_project_created", "jobs", ["project_id", "created_at"])
    op.create_index(
        "ix_jobs_running_heartbeat", "jobs", ["heartbeat_at"], postgresql_where=sa.text("state = 'running'")
    )
    # Rows of the untyped past: project ids into the column (ingest jobs through their observations).
    op.execute(
        """UPDATE jobs SET project_id = (params->>'project_id')::uuid, params = params - 'project_id'
           WHERE kind IN ('export', 'render') AND params ? 'project_id'
             AND EXISTS (SELECT 1 FROM projects p WHERE p.id = (params->>'project_id')::uuid)"""
    )
    op.execute(
        """UPDATE jobs j SET project_id = o.project_id FROM observations o
           WHERE j.kind = 'ingest' AND o.ingest_job_id = j.id"""
    )
    op.execute(
        """UPDATE jobs SET result = result || jsonb_build_object('attempt', attempts)
           WHERE kind = 'probe' AND result IS NOT NULL AND NOT result ? 'attempt'"""
    )
    # Jobs that were running when the old version stopped have no lease: give them one that has expired,
    # so that the reaper re-queues them.
    op.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 day' WHERE state = 'running'")
    op.execute("UPDATE jobs SET enqueued_at = created_at WHERE state = 'queued'")


def downgrade() -> None:
    op.execute("UPDATE jobs SET state = 'failed', error = 'cancelled' WHERE state = 'cancelled'")
    op.drop_index("ix_jobs_running_heartbeat", table_name="jobs")
    op.drop_index("ix_jobs_project_created", table_name="jobs")
    op.drop_constraint("max_attempts_positive", "jobs", type_="check")
    op.drop_constraint("jobs_project_id_fkey", "jobs", type_="foreignkey")
    for column in (
        "enqueued_at",
        "cancel_requested_at",
        "heartbeat_at",
        "lease_pid",
        "lease_host",
        "lease_token",
        "attempt_log",
        "max_attempts",
        "project_id",
    ):
        op.drop_column("jobs", column)
    # PostgreSQL cannot drop a value from an enum; 'cancelled' stays in job_state, unused.
