"""The OpenAPI document as clients can trust it: the one ``Error`` body on every error answer, and each
route's real error statuses (from its permission rule, its parameters and what it declares itself).

FastAPI documents only ``422 HTTPValidationError``, which is not the body the app sends (app.core.errors
answers ``{"detail", "code"}`` for everything), and none of the 401/403/404/503 answers every route can
give. The document is generated once, then these are written into it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.permissions import RULES, Caller, api_routes
from app.schemas.errors import ErrorRead

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
_DESCRIPTIONS = {
    400: "The body could not be read as what the route takes (e.g. not JSON, or not UTF-8).",
    401: "Not signed in (no or an expired session or token).",
    403: "Signed in, but this role may not do this (or a browser change without its CSRF token).",
    404: "No such resource, or not in a project you belong to.",
    409: "The change conflicts with the resource's state (a stale version, a task in another state, a "
    "taken id, a file not ready yet); the body says which.",
    413: "The request body is larger than this route accepts; `setting` names the limit.",
    429: "Too many attempts; wait `Retry-After` seconds.",
    422: "The request is invalid: `request_invalid` lists the fields; other codes say what is wrong.",
    503: "The database or another service cannot be reached; retry after `Retry-After` seconds.",
}


# What a route answers beyond the rules below, by route name (the handler's function name): an anonymous
# route's own refusals, and reads of files a job has not finished writing.
ROUTE_STATUSES: dict[str, list[int]] = {
    "sign_in": [401, 429],
    "sign_up": [403, 409],
    "download_job_file": [409],
    "download_dataset": [409],
    "download_checkpoint": [409],
    "download_onnx": [409],
}


def error_statuses(path: str, method: str, caller: Caller, *, has_body: bool = False) -> list[int]:
    """The error statuses a route can answer, whatever it declares itself."""
    statuses = [422, 503]
    if has_body:
        statuses.append(400)
    if caller != Caller.ANYONE:
        statuses.append(401)
    if caller in (Caller.SITE_ADMIN, Caller.MEMBER) or (caller != Caller.ANYONE and method in _CHANGES):
        statuses.append(403)
    if "{" in path and caller != Caller.ANYONE:
        statuses.append(404)
    if method in _CHANGES:
        statuses.append(413)
        if caller != Caller.ANYONE:
            statuses.append(409)
    return sorted(statuses)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with the errors written in."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        _write_errors(app, document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _write_errors(app: FastAPI, document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorRead.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["Error"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for info in api_routes(app):
        path = info.route.path_format
        for method in info.methods - {"HEAD"}:
            operation = document["paths"][path][method.lower()]
            responses: dict[str, Any] = operation["responses"]
            caller = RULES[info.name].caller
            has_body = "requestBody" in operation
            # A body that names other resources by id (a project, a parent comment) can point at none.
            if has_body and _names_ids(operation["requestBody"], schemas):
                responses.setdefault("404", {"description": _DESCRIPTIONS[404]})
            statuses = {
                *error_statuses(path, method, caller, has_body=has_body),
                *ROUTE_STATUSES.get(info.name, []),
            }
            for status in sorted(statuses):
                responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
            for code, response in responses.items():
                if int(code) >= 400:
                    _error_body(response)


def _names_ids(schema: Any, schemas: dict[str, Any], depth: int = 0) -> bool:
    """Whether a part of the document has a string of format uuid anywhere inside (refs followed)."""
    if depth > 12:
        return False
    if isinstance(schema, dict):
        if schema.get("format") == "uuid":
            return True
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return _names_ids(schemas.get(ref.rsplit("/", 1)[1]), schemas, depth + 1)
        return any(_names_ids(child, schemas, depth + 1) for child in schema.values())
    if isinstance(schema, list):
        return any(_names_ids(child, schemas, depth + 1) for child in schema)
    return False


def _error_body(response: dict[str, Any]) -> None:
    """The Error body for an error answer that names none (or FastAPI's HTTPValidationError)."""
    json_content = response.setdefault("content", {}).setdefault("application/json", {})
    schema = json_content.get("schema")
    if schema is None or schema.get("$ref", "").endswith("/HTTPValidationError"):
        json_content["schema"] = ERROR_REF
