"""Domain errors and the one table that maps them to HTTP status codes.

Services raise these; they never import FastAPI. ``install_error_handlers`` turns each into a JSON
response ``{"detail": message, "code": name}`` with the status from ``STATUS_BY_ERROR``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette import status
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.input_rules import excerpt

logger = logging.getLogger(__name__)


class MineLabelError(Exception):
    """Base of all domain errors; the message is shown to the user, so say what to do.

    Keyword arguments become extra fields of the JSON error body (e.g. the list of rejected files).
    """

    code = "error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class NotFoundError(MineLabelError):
    code = "not_found"


class NotAuthenticatedError(MineLabelError):
    code = "not_authenticated"


class ForbiddenError(MineLabelError):
    code = "forbidden"


class TooManyRequestsError(MineLabelError):
    code = "too_many_requests"


class JobNotFoundError(NotFoundError):
    code = "job_not_found"


class ConflictError(MineLabelError):
    code = "conflict"


class InvalidInputError(MineLabelError):
    code = "invalid_input"


class ServiceUnavailableError(MineLabelError):
    code = "service_unavailable"


class PayloadTooLargeError(MineLabelError):
    code = "payload_too_large"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "database_unavailable"


class BodyTooLargeError(StarletteHTTPException):
    """A request body over its route's limit (app.api.body_limit). An HTTPException, not a domain error,
    because it is raised while FastAPI reads the body, where only HTTPExceptions pass through unchanged."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            detail=(
                f"The request body is over {limit:,} bytes, the limit for this route ({setting}); "
                "send less in one request."
            ),
        )
        self.setting = setting


STATUS_BY_ERROR: dict[type[MineLabelError], int] = {
    NotAuthenticatedError: status.HTTP_401_UNAUTHORIZED,
    ForbiddenError: status.HTTP_403_FORBIDDEN,
    TooManyRequestsError: status.HTTP_429_TOO_MANY_REQUESTS,
    PayloadTooLargeError: status.HTTP_413_CONTENT_TOO_LARGE,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    ConflictError: status.HTTP_409_CONFLICT,
    InvalidInputError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ServiceUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_for(error: MineLabelError) -> int:
    """Most specific status in STATUS_BY_ERROR for ``error``'s class (walks the MRO)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


_HTTP_CODES = {
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_413_CONTENT_TOO_LARGE: "payload_too_large",
}

# An error echoes at most this much of any input: a 10 MB label must not come back as a 10 MB error.
MAX_MESSAGE_CHARS = 2000
MAX_LISTED_ISSUES = 50
# How long a client should wait before retrying when the database is unreachable.
DATABASE_RETRY_AFTER_S = 5


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MineLabelError)
        code = status_for(exc)
        if code >= 500:
            logger.warning("request failed: %s", exc)
        content = {"detail": _short(str(exc)), "code": exc.code, **_json_safe(jsonable_encoder(exc.extra))}
        retry_after = exc.extra.get("retry_after_s")
        headers = {"Retry-After": str(int(retry_after))} if isinstance(retry_after, int | float) else None
        return JSONResponse(status_code=code, content=content, headers=headers)

    async def handle_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        issues = [_issue(error) for error in exc.errors()[:MAX_LISTED_ISSUES]]
        content = {"detail": issues, "code": "request_invalid"}
        return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content=content)

    async def handle_database_down(request: Request, exc: Exception) -> JSONResponse:
        # Connection refused, or the server went away mid-request: the request changed nothing (its
        # transaction did not commit), so the client can simply send it again.
        logger.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc)
        error = DatabaseUnavailableError(
            "The database cannot be reached; nothing was changed. Try again shortly.",
            retry_after_s=DATABASE_RETRY_AFTER_S,
        )
        return await handle(request, error)

    async def handle_http(_: Request, exc: Exception) -> JSONResponse:
        # Routing's own answers (no such path, wrong method, body too large) in the same body as the rest.
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        content = {"detail": _short(str(exc.detail)), "code": code}
        if isinstance(exc, BodyTooLargeError):
            content |= {"code": "body_too_large", "setting": exc.setting}
        return JSONResponse(status_code=exc.status_code, content=content, headers=exc.headers)

    app.add_exception_handler(MineLabelError, handle)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(OperationalError, handle_database_down)
    app.add_exception_handler(InterfaceError, handle_database_down)


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"


def _issue(error: Any) -> dict[str, Any]:
    """One of pydantic's errors as JSON: where, what and a short excerpt of the input, never all of it (a
    NaN, bytes or a 10 MB string could not be rendered, or would come back whole)."""
    issue: dict[str, Any] = {
        "type": str(error.get("type", "")),
        "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
        "msg": _short(str(error.get("msg", ""))),
    }
    value = error.get("input")
    if isinstance(value, str):
        issue["input"] = excerpt(value)
    elif value is None or isinstance(value, bool) or _plain_number(value):
        issue["input"] = value
    return issue


def _plain_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and abs(value) < 2**53


def _json_safe(value: Any) -> Any:
    """Extra fields of an error body with non-finite floats dropped (they are not JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json_safe(item) for item in value]
    return value
