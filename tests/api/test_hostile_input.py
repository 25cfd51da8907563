"""Hostile input through the HTTP API: NUL and control characters in every text field of every request
schema (generated from the OpenAPI document, not listed by hand), unbounded integers, deep nesting, NaN,
huge inputs echoed in errors, lax coercions; each a 4xx with a message, never a 5xx, nothing stored."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from app.api.permissions import api_routes
from app.models import Region, ReviewComment
from app.schemas.base import RequestModel
from tests.world import World, build_world, square

NUL = "a\x00b"


@pytest.fixture
def world(app: FastAPI, db_session: Session, tmp_path: Path) -> World:
    return build_world(db_session, app.state.storage, tmp_path)


def fill(path: str, world: World) -> str:
    values = {
        "project_id": world.project.id,
        "observation_id": world.task.id,
        "annotation_id": world.annotation_id,
        "region_id": world.region.id,
        "prediction_id": world.prediction.id,
        "comment_id": world.comment.id,
        "job_id": world.job.id,
        "token_id": world.token.id,
        "user_id": world.other_annotator.id,
        "model_version_id": world.model_version.id,
        "dataset_id": world.dataset.id,
        "grid": "pixel",
        "z": 0,
        "x": 0,
        "y": 0,
        "fmt": "png",
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(values[m[1]]), path)


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def text_fields(
    schema: dict[str, Any], spec: dict[str, Any], path: tuple[str | int, ...] = (), depth: int = 0
) -> Iterator[tuple[tuple[str | int, ...], bool]]:
    """Every place a string can go in a request body, as (path, whether it is free text rather than a
    format like uuid/date/enum), following refs, unions, arrays and nested objects."""
    schema = _resolve(schema, spec)
    if depth > 6:
        return
    for option in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        yield from text_fields(option, spec, path, depth + 1)
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "const" not in schema:
        yield path, "format" not in schema
    elif kind == "array" and "items" in schema:
        yield from text_fields(schema["items"], spec, (*path, 0), depth + 1)
    elif kind == "object":
        for name, child in schema.get("properties", {}).items():
            yield from text_fields(child, spec, (*path, name), depth + 1)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield (*path, "key"), True


def body_at(path: tuple[str | int, ...], value: object) -> object:
    """The smallest JSON value with ``value`` at ``path`` (ints are list positions)."""
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


def json_body_operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    spec = app.openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method.upper(), path, content["application/json"]["schema"]


def test_every_json_body_is_a_request_model(app: FastAPI) -> None:
    """The rule lives in RequestModel, so every body must be one (a new route cannot forget it)."""
    for info in api_routes(app):
        body = info.route.body_field
        if body is not None and isinstance(body.field_info.annotation, type):
            assert issubclass(body.field_info.annotation, RequestModel), info.name


def test_nul_in_every_text_field_of_every_request_schema_is_a_422_naming_it(
    app: FastAPI, world: World, connection: Connection
) -> None:
    spec = app.openapi()
    tried, failures = 0, []
    headers = {"Authorization": f"Token {world.keys['site_admin']}"}
    with TestClient(app) as client:
        for method, path, schema in json_body_operations(app):
            for field_path, _ in text_fields(schema, spec):
                body = (
                    body_at(field_path, NUL)
                    if field_path[-1:] != ("key",)
                    else body_at(field_path[:-1], {NUL: "x"})
                )
                savepoint = connection.begin_nested()
                try:
                    response = client.request(method, fill(path, world), headers=headers, json=body)
                finally:
                    savepoint.rollback()
                tried += 1
                top = next((part for part in field_path if isinstance(part, str)), None)
                locs = (
                    [issue["loc"] for issue in response.json()["detail"]]
                    if response.status_code == 422
                    else []
                )
                named = any(top in loc for loc in locs)
                if response.status_code != 422 or not named:
                    failures.append(
                        f"{method} {path} {field_path}: {response.status_code} {response.text[:300]}"
                    )
    assert tried > 40
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("text", ["\x00", "x\x1b[31mred", "\x7f", "\x85", "a\x08b"])
def test_control_characters_are_refused_with_the_field_named(client: TestClient, text: str) -> None:
    response = client.post("/api/projects", json={"name": text})
    assert response.status_code == 422
    issue = response.json()["detail"][0]
    assert issue["loc"] == ["body", "name"] and "control character" in issue["msg"]
    assert response.json()["code"] == "request_invalid"


def test_tabs_and_newlines_stay_allowed_in_text(client: TestClient) -> None:
    response = client.post(
        "/api/projects", json={"name": "Atacama", "description": "line one\n\tline two\r\n"}
    )
    assert response.status_code == 201, response.text


def test_nul_in_query_parameters_is_a_422_naming_them(client: TestClient, world: World) -> None:
    response = client.get(f"/api/projects/{world.project.id}/tasks", params={"site": NUL})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "site"]


def test_nul_in_sign_in_email_is_a_422(anonymous_client: TestClient) -> None:
    response = anonymous_client.post("/api/auth/sign-in", json={"email": "a\x00@x.org", "password": "p"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "email"]


def test_nul_in_a_comment_stores_nothing(client: TestClient, world: World, db_session: Session) -> None:
    before = db_session.scalar(select(func.count()).select_from(ReviewComment))
    response = client.post(f"/api/observations/{world.task.id}/comments", json={"body": NUL})
    assert response.status_code == 422
    assert db_session.scalar(select(func.count()).select_from(ReviewComment)) == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs?offset=9223372036854775808",
        "/api/projects/{project_id}/jobs?offset=9223372036854775808",
        "/api/projects/{project_id}/tasks?offset=9223372036854775808",
        "/api/projects/{project_id}/review-queue?offset=9223372036854775808",
        "/api/projects/{project_id}/observations?offset=9223372036854775808",
        "/api/projects/{project_id}/tasks?limit=-1",
    ],
)
def test_unbounded_integers_in_queries_are_a_422(client: TestClient, world: World, url: str) -> None:
    response = client.get(fill(url, world))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_unbounded_integers_in_bodies_are_a_422(client: TestClient, world: World) -> None:
    response = client.put(f"/api/annotations/{world.annotation_id}", json={"version": 2**70, "regions": []})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "version"]


def _nested(depth: int) -> object:
    value: object = [1.0, 2.0]
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_geometry_is_a_422_and_stores_nothing(
    client: TestClient, world: World, db_session: Session
) -> None:
    before = db_session.scalar(select(func.count()).select_from(Region))
    geometry = {"type": "Polygon", "coordinates": _nested(900)}
    region = {"label": "Pit", "geometry": geometry}
    response = client.put(f"/api/annotations/{world.annotation_id}", json={"version": 2, "regions": [region]})
    assert response.status_code == 422
    assert "nested deeper" in response.json()["detail"][0]["msg"]
    assert db_session.scalar(select(func.count()).select_from(Region)) == before


def test_nan_in_a_save_is_a_422_that_renders(client: TestClient, world: World) -> None:
    geometry = json.dumps(square(1, 1, 5))
    body = '{"version": 2, "regions": [{"label": "Pit", "geometry": ' + geometry + ', "score": NaN}]}'
    response = client.put(
        f"/api/annotations/{world.annotation_id}", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    issue = response.json()["detail"][0]
    # Where inside the field it is: the message says (the loc names the request's field).
    assert issue["loc"][:2] == ["body", "regions"] and "0.score" in issue["msg"] and "input" not in issue


def test_a_huge_input_is_echoed_only_as_a_short_excerpt(client: TestClient, world: World) -> None:
    label = "x" * 1_000_000
    region = {"label": label, "geometry": square(1, 1, 5)}
    response = client.put(f"/api/annotations/{world.annotation_id}", json={"version": 2, "regions": [region]})
    assert 400 <= response.status_code < 500
    assert len(response.content) < 5000


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/projects", {"name": "p", "description": 5}, "description"),
        ("/api/comments/{comment_id}/resolve", {"resolved": 0}, "resolved"),
        ("/api/projects/{project_id}", {"annotators_per_task": True}, "annotators_per_task"),
        ("/api/projects/{project_id}", {"annotators_per_task": "2"}, "annotators_per_task"),
        ("/api/projects/{project_id}", {"annotators_see_others": 1}, "annotators_see_others"),
        ("/api/observations/{observation_id}", {"acquired_on": 0}, "acquired_on"),
    ],
)
def test_lax_coercions_are_refused(
    client: TestClient, world: World, url: str, body: dict[str, Any], field: str
) -> None:
    method = "POST" if url.endswith(("resolve", "/api/projects")) else "PATCH"
    response = client.request(method, fill(url, world), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_get_on_the_probe_route_is_a_405_not_a_job_id(client: TestClient) -> None:
    response = client.get("/api/jobs/probe")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST" and response.json()["code"] == "method_not_allowed"


def test_the_openapi_document_names_the_error_body_on_every_error_answer(app: FastAPI) -> None:
    spec = app.openapi()
    assert "HTTPValidationError" not in json.dumps(spec)
    assert set(spec["components"]["schemas"]["Error"]["required"]) == {"detail", "code"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"422", "503"} <= set(responses), f"{method} {path}"
            for status, response in responses.items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert "$ref" in schema, f"{method} {path} {status}"


def test_a_refused_request_answers_with_the_documented_error_body(client: TestClient) -> None:
    from app.schemas.errors import ErrorRead

    for response in (
        client.get("/api/jobs/00000000-0000-0000-0000-000000000000"),
        client.post("/api/projects"),
    ):
        ErrorRead.model_validate(response.json())
