"""Request size limits, checked before routing: nothing oversized reaches parsing or rendering.

``SizeLimits`` (ASGI middleware) answers an oversized query, path or header set with a 4xx.
Before that, the server must not buffer an endless request head: uvicorn's h11 parser bounds it
(``--h11-max-incomplete-event-size``), httptools has no bound, so production runs
``--http app.limits:BoundedHttpToolsProtocol``, which closes the connection with a 431 instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import problem_response

MAX_QUERY_BYTES = 8 * 1024
MAX_PATH_BYTES = 1024
MAX_HEADER_BYTES = 16 * 1024  # all names and values together
MAX_HEADERS = 100
# A whole request head as it arrives: request line, headers and their framing, with room to spare.
MAX_HEAD_BYTES = 2 * (MAX_QUERY_BYTES + MAX_PATH_BYTES + MAX_HEADER_BYTES)


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


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head longer than MAX_HEAD_BYTES.

    httptools hands a header over only once it is complete, and buffers it until then: without
    this bound one connection could make a worker hold any amount of memory.
    """

    _head_bytes = 0
    _in_body = False

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                message = f"request head larger than {MAX_HEAD_BYTES} bytes\n".encode()
                self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                     b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
                                     b"content-length: %d\r\n\r\n%s" % (len(message), message))
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_body, self._head_bytes = True, 0  # a body is the app's to bound
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()
