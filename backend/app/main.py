"""create_app(): routers, error handlers, middleware, and the lifespan that owns the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Match, Mount, Route
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api import staging
from app.api.access import AccessCache, get_access
from app.api.body_limit import BodyLimitMiddleware
from app.api.input_guard import InputGuardMiddleware
from app.api.middleware import RequestContextMiddleware
from app.api.openapi import install_openapi
from app.api.permissions import missing_rules
from app.api.routes import annotations as annotation_routes
from app.api.routes import (
    auth,
    change,
    comments,
    exports,
    health,
    jobs,
    members,
    metrics,
    models,
    observations,
    projects,
    regions,
    reports,
    sam,
    tasks,
    ui,
    users,
)
from app.core.config import REPO_ROOT, Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.metrics import Metrics
from app.core.queue import make_celery
from app.imagery.storage import make_storage
from app.services.health import VERSION
from app.services.rate_limit import SignInLimiter
from app.services.sam_decoder import Decoder
from app.services.tiles import TileCache, TileSourceCache

FRONTEND_DIST = REPO_ROOT / "frontend" / "dist"

_FRONTEND_MISSING = """<!doctype html><title>MineLabel</title>
<p>The browser client has not been built. Run <code>make run</code> (or <code>make frontend</code>).
The API is at <a href="/docs">/docs</a>.</p>"""


class FrontendMount(Mount):
    """The built browser client at /, except under /api/: a path there that no route takes fully must get
    the router's own answer (a JSON 404, or 405 with Allow where another method would match), not the
    static files' 404."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("path", "").startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


def create_app(
    settings: Settings | None = None, *, session_factory: sessionmaker[Session] | None = None
) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: defaults to the process settings; tests pass their own.
        session_factory: defaults to one on a new engine; tests pass one bound to a rolled-back
            transaction.
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    engine = make_engine(settings)
    session_factory = session_factory or make_session_factory(engine)
    app_metrics = Metrics(session_factory)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        staging.sweep(staging.staging_root(settings.storage.data_dir), settings.storage.staging_max_idle_s)
        yield
        engine.dispose()

    # get_access authenticates the caller and applies the route's permission rule, for every route.
    app = FastAPI(title="MineLabel", version=VERSION, lifespan=lifespan, dependencies=[Depends(get_access)])
    # The engine is lazy (no connection until first use), so making it here is cheap; it is disposed
    # in the lifespan. It lives on app.state so tests and routes share one pool per app.
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.celery = make_celery(settings)
    app.state.metrics = app_metrics
    app.state.storage = make_storage(settings.storage)
    app.state.tile_cache = TileCache(settings.tiles.cache_bytes)
    app.state.tile_sources = TileSourceCache(settings.tiles.source_cache_s)
    app.state.sam_decoder = Decoder(app.state.storage, settings.sam.decoder_cache_windows)
    app.state.access_cache = AccessCache(settings.security.access_cache_s)
    app.state.sign_in_limiter = SignInLimiter(
        redis.Redis.from_url(settings.redis.url, socket_timeout=2, socket_connect_timeout=2),
        settings.security.sign_in_max_failures,
        settings.security.sign_in_window_s,
    )

    install_error_handlers(app)
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=settings.limits)
    app.add_middleware(
        RequestContextMiddleware, metrics=app_metrics, basemap_origin=settings.map.basemap_origin
    )
    if settings.security.trusted_proxies:
        # Outermost, so that everything inside sees the client's address from the trusted proxy's header.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.security.trusted_proxies)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(members.router)
    app.include_router(tasks.router)
    app.include_router(comments.router)
    app.include_router(reports.router)
    app.include_router(exports.router)
    app.include_router(jobs.router)
    app.include_router(projects.router)
    app.include_router(observations.router)
    app.include_router(annotation_routes.router)
    app.include_router(regions.router)
    app.include_router(sam.router)
    app.include_router(models.router)
    app.include_router(change.router)
    app.include_router(change.overview_router)
    app.include_router(metrics.router)
    app.include_router(ui.router)

    if problems := missing_rules(app):
        raise RuntimeError(
            "Every route needs a permission rule (app/api/permissions.py): " + "; ".join(problems)
        )
    install_openapi(app)

    if (FRONTEND_DIST / "index.html").is_file():
        app.router.routes.append(
            FrontendMount("/", StaticFiles(directory=FRONTEND_DIST, html=True), name="frontend")
        )
    else:
        # A plain Starlette route, not an API route: it needs no permission rule (nor any access check).
        app.router.routes.append(
            Route("/", lambda _: HTMLResponse(_FRONTEND_MISSING), name="frontend_missing")
        )

    return app
