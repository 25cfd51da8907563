"""Database engine and session helpers (SQLAlchemy 2, psycopg 3, PostGIS)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, Enum, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.core.config import Settings


class Base(DeclarativeBase):
    """Base class of every ORM model."""


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A PostgreSQL enum column type that stores the members' values (not their Python names)."""
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


def make_engine(settings: Settings) -> Engine:
    """Create the engine for ``settings.db``; called from the app lifespan or a worker's process init."""
    return create_engine(
        settings.db.url,
        pool_size=settings.db.pool_size,
        pool_pre_ping=True,
        echo=settings.db.echo,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def command_session(settings: Settings) -> Iterator[Session]:
    """A session on an engine of its own, disposed afterwards: what one CLI command needs."""
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()
