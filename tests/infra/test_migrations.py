"""Migrations: they build the schema the models describe, and go down and up again cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import app.models  # noqa: F401
from app.core.db import Base
from app.core.migrations import downgrade, upgrade
from tests.services import RunningServices

DATABASE = "minelabel_migrations"


@pytest.fixture
def scratch_db(services: RunningServices) -> Iterator[str]:
    services.postgres.drop_database(DATABASE)
    services.postgres.ensure_database(DATABASE)
    yield services.db_url(DATABASE)
    services.postgres.drop_database(DATABASE)


def test_upgrade_matches_models_and_round_trips(scratch_db: str) -> None:
    upgrade(scratch_db)
    engine = create_engine(scratch_db, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert (
                conn.scalar(text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")) == "postgis"
            )
            context = MigrationContext.configure(
                conn, opts={"include_object": alembic_helpers.include_object, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
        downgrade(scratch_db, "base")
        with engine.connect() as conn:
            tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            assert tables == {"alembic_version"}
        upgrade(scratch_db)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM jobs")) == 0
    finally:
        engine.dispose()
