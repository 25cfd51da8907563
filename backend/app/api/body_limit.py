"""A size limit on every request body, chosen per route, before any of it is parsed.

Without one, a single 40 MB save held a worker for 25 s (parsing, checking, and a 409 that carried it all
back). Routes that carry geometry (whole saves, region edits, predictions) get
``LIMITS__MAX_ANNOTATION_BODY_BYTES``; the multipart routes stream each file to disk under their own
per-file limits (app.api.uploads); every other body gets ``LIMITS__MAX_BODY_BYTES``.

The route is only known once routing has run, which is after a middleware sees the request; the body is
read after that, so the limit is looked up on the first read of the body (the router writes the matched
route into the scope). A body over its limit is a 413 naming the setting, and the handler never runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import LimitSettings
from app.core.errors import BodyTooLargeError

# Route name -> the LimitSettings field that bounds its body (None: the route limits its files itself).
# A route not listed gets max_body_bytes.
ROUTE_BODY_LIMITS: Mapping[str, str | None] = {
    "create_annotation": "max_annotation_body_bytes",
    "save_annotation": "max_annotation_body_bytes",
    "change_annotation": "max_annotation_body_bytes",
    "add_region": "max_annotation_body_bytes",
    "replace_region": "max_annotation_body_bytes",
    "add_prediction": "max_annotation_body_bytes",
    "upload_images": None,
    "import_labels": None,
}
DEFAULT_LIMIT = "max_body_bytes"


def body_limit_for(route_name: str | None, limits: LimitSettings) -> tuple[int, str] | None:
    """The byte limit for a route's body and the setting that names it, or None for no overall limit."""
    field = ROUTE_BODY_LIMITS.get(route_name, DEFAULT_LIMIT) if route_name else DEFAULT_LIMIT
    if field is None:
        return None
    value = getattr(limits, field)
    assert isinstance(value, int)
    return value, f"LIMITS__{field.upper()}"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        received = 0
        resolved = False
        bound: tuple[int, str] | None = None

        async def limited_receive() -> Message:
            nonlocal received, resolved, bound
            if not resolved:
                route = scope.get("route")
                bound = body_limit_for(getattr(route, "name", None), self.limits)
                resolved = True
                # A declared length over the limit is refused before a byte of the body is read.
                if (
                    bound is not None
                    and declared is not None
                    and declared.isdigit()
                    and int(declared) > bound[0]
                ):
                    raise BodyTooLargeError(*bound)
            message = await receive()
            if bound is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > bound[0]:
                    raise BodyTooLargeError(*bound)
            return message

        await self.app(scope, limited_receive, send)
