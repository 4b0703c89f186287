"""Request size limits, checked before routing: nothing oversized reaches parsing or rendering.

uvicorn's h11 parser also bounds a request head (``--h11-max-incomplete-event-size``); httptools
has no such setting, so this middleware is the limit that always applies.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import problem_response

MAX_QUERY_BYTES = 8 * 1024
MAX_PATH_BYTES = 1024
MAX_HEADER_BYTES = 16 * 1024  # all names and values together
MAX_HEADERS = 100


def oversized(scope: Scope) -> tuple[int, str, str] | None:
    """(status, part, reason) for the first limit a request head breaks, or None."""
    query = scope["query_string"]
    if len(query) > MAX_QUERY_BYTES:
        return 414, "query", f"is longer than {MAX_QUERY_BYTES} bytes"
    try:
        query.decode()  # Starlette decodes it strictly when it builds request.url
    except UnicodeDecodeError:
        return 400, "query", "is not UTF-8: percent-encode it"
    if len(scope.get("raw_path") or scope["path"].encode()) > MAX_PATH_BYTES:
        return 414, "path", f"is longer than {MAX_PATH_BYTES} bytes"
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS:
        return 431, "headers", f"more than {MAX_HEADERS} header fields"
    if sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES:
        return 431, "headers", f"are larger than {MAX_HEADER_BYTES} bytes"
    return None


class SizeLimits:
    """ASGI middleware: answer an oversized request with a 4xx problem, as any bad option is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = oversized(scope)
            if problem is not None:
                status, part, reason = problem
                response = problem_response(Request(scope), [(part, reason)], status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
