"""A database session factory made lazily, once per worker process (never shared across a fork)."""

from __future__ import annotations

from celery.signals import worker_process_init
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings
from app.core.db import make_engine, make_session_factory

_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def session_factory() -> sessionmaker[Session]:
    global _engine, _factory
    if _factory is None:
        _engine = make_engine(get_settings())
        _factory = make_session_factory(_engine)
    return _factory


@worker_process_init.connect
def _reset_after_fork(**_: object) -> None:
    # A pool inherited from the parent process would share its sockets; start afresh in each child.
    global _engine, _factory
    if _engine is not None:
        _engine.dispose(close=False)
    _engine = None
    _factory = None
