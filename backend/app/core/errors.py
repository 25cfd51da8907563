"""Domain errors and the one table that maps them to HTTP status codes.

Services raise these; they never import FastAPI. ``install_error_handlers`` turns each into a JSON
response ``{"detail": message, "code": name}`` with the status from ``STATUS_BY_ERROR``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette import status

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


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MineLabelError)
        code = status_for(exc)
        if code >= 500:
            logger.warning("request failed: %s", exc)
        content = {"detail": str(exc), "code": exc.code, **jsonable_encoder(exc.extra)}
        return JSONResponse(status_code=code, content=content)

    app.add_exception_handler(MineLabelError, handle)
