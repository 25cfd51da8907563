"""Health endpoints: a cheap liveness probe and a full report of every dependency."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.api.deps import CeleryDep, SessionDep, SettingsDep
from app.schemas.health import HealthRead
from app.services.health import build_report

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("/live", summary="The API process is up (for container health checks)")
def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "",
    response_model=HealthRead,
    summary="Database, PostGIS, Redis and worker reachability",
    responses={503: {"model": HealthRead, "description": "The database is unreachable."}},
)
def health(session: SessionDep, settings: SettingsDep, celery: CeleryDep, response: Response) -> HealthRead:
    """``status`` is ``ok`` when all is green, ``degraded`` when Redis or workers are missing (the API
    still serves labels), ``down`` (HTTP 503) when the database cannot be reached."""
    report = build_report(session, settings, celery)
    if report.status == "down":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report
