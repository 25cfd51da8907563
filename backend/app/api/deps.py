"""Shared FastAPI dependencies, as ``Annotated`` aliases.

The trivial ones are ``async def``: FastAPI would run a plain ``def`` dependency in its thread pool, a
cost that the tile endpoint's cache hits should not pay.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.imagery.storage import Storage
from app.services.rate_limit import SignInLimiter
from app.services.tiles import TileCache, TileSourceCache


def _json_boolean(value: object) -> object:
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false.")
    return value


# A boolean query parameter as JSON spells it: pydantic alone would also take 0/1, yes/no and on/off,
# so `?repair=0` would quietly mean false (the same strictness as request bodies, app.schemas.base).
QueryBool = Annotated[bool, BeforeValidator(_json_boolean)]


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request. Handlers (through services) commit explicitly, so a 2xx follows a commit."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as session:
        yield session


async def get_celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


async def get_storage(request: Request) -> Storage:
    storage: Storage = request.app.state.storage
    return storage


async def get_tile_cache(request: Request) -> TileCache:
    cache: TileCache = request.app.state.tile_cache
    return cache


async def get_tile_sources(request: Request) -> TileSourceCache:
    sources: TileSourceCache = request.app.state.tile_sources
    return sources


StorageDep = Annotated[Storage, Depends(get_storage)]
TileCacheDep = Annotated[TileCache, Depends(get_tile_cache)]
TileSourcesDep = Annotated[TileSourceCache, Depends(get_tile_sources)]


async def get_sign_in_limiter(request: Request) -> SignInLimiter:
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    return limiter


SignInLimiterDep = Annotated[SignInLimiter, Depends(get_sign_in_limiter)]


# Paging of every list: bounded, so that an offset past bigint (or a negative limit) is a 422 naming the
# parameter rather than a database error. A million rows in is further than any screen pages.
MAX_OFFSET = 1_000_000
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (at most 1,000,000).")]
