"""Request size limits, checked before routing: nothing oversized reaches parsing or rendering.

``oversized`` finds an oversized query, path or header set, which app.http.front answers with a 4xx.
Before that, the server must not buffer an endless request head: uvicorn's h11 parser bounds it
(``--h11-max-incomplete-event-size``), httptools has no bound, so production runs
``--http app.http.server:HttpProtocol``, which closes the connection with a 431 instead.
"""

from __future__ import annotations

from itertools import chain

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from app.http.errors import problem_response

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
    if not query.isascii():
        try:
            query.decode()  # Starlette decodes it strictly when it builds request.url
        except UnicodeDecodeError:
            return 400, "query", "is not UTF-8: percent-encode it"
    if len(scope.get("raw_path") or scope["path"].encode()) > MAX_PATH_BYTES:
        return 414, "path", f"is longer than {MAX_PATH_BYTES} bytes"
    return oversized_headers(scope["headers"])


def oversized_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
    """(status, part, reason) if the header fields break a limit, or None."""
    if len(headers) > MAX_HEADERS:
        return 431, "headers", f"more than {MAX_HEADERS} header fields"
    if sum(map(len, chain.from_iterable(headers))) > MAX_HEADER_BYTES:
        return 431, "headers", f"are larger than {MAX_HEADER_BYTES} bytes"
    return None


def limit_response(scope: Scope, problem: tuple[int, str, str]) -> Response:
    """The 4xx answer to an oversized request: a problem, as any bad option is answered."""
    status, part, reason = problem
    return problem_response(Request(scope), [(part, reason)], status)
