"""ASGI middleware: a request id on every request (header and logs), latency metrics, security headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var
from app.core.metrics import Metrics

_CONVERTER = re.compile(r":\w+\}")

logger = logging.getLogger("app.access")

REQUEST_ID_HEADER = "x-request-id"


# Sent with every answer. The policy lets the page run only its own scripts (no inline script, so text from
# a file name or a comment that reaches the page as markup still cannot run), and no one may frame it.
# Images may also come from the configured basemap's origin (MAP__BASEMAP_URL). 'wasm-unsafe-eval' lets the
# page compile WebAssembly (SAM's decoder in the browser, onnxruntime-web) and nothing more: eval() and
# inline script stay forbidden.
def security_headers(basemap_origin: str | None = None) -> list[tuple[bytes, bytes]]:
    img_src = "'self' data: blob:" + (f" {basemap_origin}" if basemap_origin else "")
    policy = (
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
        f"style-src 'self' 'unsafe-inline'; img-src {img_src}; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'"
    )
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy", policy.encode()),
    ]


# Accept a caller's id only when it is short and plain, so it cannot forge log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, basemap_origin: str | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.headers = security_headers(basemap_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status_code = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"].append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"].extend(self.headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            # The route template (/api/jobs/{job_id}) keeps label cardinality bounded; unmatched paths
            # (static files, 404s) share one label. Path converters ({job_id:uuid}) are not part of it.
            template = _CONVERTER.sub("}", getattr(route, "path", None) or "unmatched")
            self.metrics.request_seconds.labels(scope["method"], template, str(status_code)).observe(elapsed)
            logger.info("%s %s %s %.1fms", scope["method"], scope["path"], status_code, elapsed * 1000)
            request_id_var.reset(token)
