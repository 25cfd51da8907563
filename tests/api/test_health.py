"""/api/health, /metrics, request ids and the frontend at /."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import main
from app.core.config import DatabaseSettings, RedisSettings, Settings
from app.core.logging import RequestIdFilter
from app.main import create_app
from tests.services import free_port


def test_health_reports_each_component_without_a_worker(settings: Settings) -> None:
    # Another Redis database than the test workers' (a session's browser tests may have started one).
    base = settings.redis.url.rsplit("/", 1)[0]
    alone = settings.model_copy(update={"redis": RedisSettings(url=f"{base}/13")})
    with TestClient(create_app(alone)) as client:
        response = client.get("/api/health")
    assert response.status_code == 200
    report = response.json()
    assert report["database"]["ok"] is True
    assert report["postgis"]["ok"] is True
    assert report["postgis"]["detail"].startswith("POSTGIS=")
    assert report["redis"]["ok"] is True
    assert report["redis"]["detail"].startswith("redis ")
    # No worker consumes this Redis database's queues, so the report must say so.
    assert report["workers"]["ok"] is False
    assert "no worker answered" in report["workers"]["detail"]
    assert report["status"] == "degraded"


def test_health_is_down_with_503_when_the_database_is_unreachable(settings: Settings) -> None:
    broken = settings.model_copy(
        update={"db": DatabaseSettings(url=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")}
    )
    with TestClient(create_app(broken)) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "down"
    assert report["database"]["ok"] is False
    assert "connection" in report["database"]["detail"].lower()


def test_health_reports_redis_down(settings: Settings, client: TestClient) -> None:
    broken = settings.model_copy(update={"redis": RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0")})
    with TestClient(create_app(broken)) as broken_client:
        report = broken_client.get("/api/health").json()
    assert report["status"] == "degraded"
    assert report["redis"]["ok"] is False
    assert report["workers"] == {
        "ok": False,
        "detail": "redis unreachable",
        "latency_ms": 0.0,
        "workers": [],
        "queues": {},
        "nodes": [],
    }


def test_live_probe(client: TestClient) -> None:
    assert client.get("/api/health/live").json() == {"status": "ok"}


def test_request_id_is_echoed_or_generated_and_logged(client: TestClient) -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect()
    handler.addFilter(RequestIdFilter())
    access = logging.getLogger("app.access")
    access.addHandler(handler)
    try:
        echoed = client.get("/api/health/live", headers={"X-Request-ID": "abc-123"})
        forged = client.get("/api/health/live", headers={"X-Request-ID": "bad id\nINFO fake line"})
    finally:
        access.removeHandler(handler)
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = forged.headers["x-request-id"]
    assert generated != "bad id\nINFO fake line"
    assert len(generated) == 32
    assert [r.request_id for r in records] == ["abc-123", generated]  # type: ignore[attr-defined]


def test_metrics_expose_latency_by_route_template_and_job_counts(client: TestClient) -> None:
    client.get("/api/health/live")
    client.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    body = client.get("/metrics").text
    assert (
        'minelabel_http_request_duration_seconds_count{method="GET",route="/api/health/live",status="200"}'
        in body
    )
    assert 'route="/api/jobs/{job_id}",status="404"' in body
    assert 'minelabel_jobs{queue="cpu",state="queued"} 0.0' in body
    assert 'minelabel_jobs{queue="gpu",state="failed"} 0.0' in body


def test_frontend_is_served_at_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>MineLabel</title>" in response.text


def test_an_unbuilt_frontend_gets_a_page_that_says_how_to_build_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(main, "FRONTEND_DIST", tmp_path / "no-dist")
    with TestClient(main.create_app(settings)) as client:
        response = client.get("/")
    assert response.status_code == 200
    assert "make frontend" in response.text


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/health", "/api/health/live", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/probe"} <= set(
        paths
    )
