"""The input rules (app.core.input_rules) for what no schema sees: the path and the query string.

Query and path parameters are plain function arguments, not ``RequestModel`` fields, so one middleware
checks them all before routing: a NUL or other control character in any of them is a 422 naming the
parameter, in the same body as a schema's 422.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.input_rules import excerpt, text_problem


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (issue := _problem(scope)) is not None:
            loc, message = issue
            body = {
                "detail": [{"type": "control_character", "loc": loc, "msg": message}],
                "code": "request_invalid",
            }
            await JSONResponse(body, status_code=422)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _problem(scope: Scope) -> tuple[list[str], str] | None:
    path = unquote(scope.get("raw_path", b"").decode("latin-1") or scope.get("path", ""))
    if (reason := text_problem(path)) is not None:
        return ["path"], f"The path {reason}"
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        for text in (name, value):
            if (reason := text_problem(text)) is not None:
                return ["query", excerpt(name)], f"Value error, {reason}"
    return None
