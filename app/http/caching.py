"""Content-addressed HTTP responses: ETag = sha256 of the body, If-None-Match answered with 304."""

from __future__ import annotations

import hashlib

from fastapi import Request
from fastapi.responses import Response


def sha256_hex(body: str | bytes) -> str:
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).hexdigest()


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison: ``*``, or any listed tag equal to ours once a ``W/`` prefix is dropped."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cached_response(request: Request, body: str | bytes, media_type: str, cache_control: str, *,
                    digest: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """The body with a strong ETag (its sha256) and Cache-Control; 304 and no body when the client has it.

    ``digest`` is the body's sha256 when the caller already has it (``Rendered.etag``).
    """
    etag = f'"{digest or sha256_hex(body)}"'
    all_headers = {"ETag": etag, "Cache-Control": cache_control, **(headers or {})}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, media_type=media_type, headers=all_headers)
