"""First start of a database: migrations, then the first admin account."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.core.config import AdminSettings
from app.core.migrations import upgrade
from app.services.users import CreatedAdmin, ensure_first_admin


def initialise_database(db_url: str, admin: AdminSettings) -> CreatedAdmin | None:
    """Migrate to head and create the first admin if no user exists; returns what to tell the operator."""
    upgrade(db_url)
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return ensure_first_admin(session, admin)
    finally:
        engine.dispose()


def describe_created_admin(created: CreatedAdmin) -> str:
    shown = created.password if created.password_was_generated else "(the one in ADMIN__PASSWORD)"
    return (
        f"\n  First admin account created: {created.email}  password: {shown}\n"
        "  Write it down: it is not shown again.\n"
    )
