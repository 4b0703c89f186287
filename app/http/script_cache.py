"""Whole script responses kept in memory, so that a repeated request skips routing, parsing and
rendering (app.http.front asks here before anything else runs).

A served script depends only on its path, its query string and the service's base URL, which
comes from the request's scheme and Host header, or from X-Forwarded-Proto/-Host when the peer
is a trusted proxy (app/http/urls.py). Those form the key, with the method and Accept header. Only
complete 200 answers are kept, in an LRU bounded in entries (``render_cache_size``; 0 disables
it, as it disables the render cache) and in bytes (``script_cache_bytes``, as the render cache).
A kept body is the very bytes object the render cache holds, not a copy. Conditional and range
requests always go to the app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from starlette.types import Message, Scope

from app.http.access_log import Answer
from app.lru import LRU
from app.settings import get_settings
from app.http.urls import peer_trusted

BYPASS_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since",
                            b"range", b"if-range", b"cache-control"))
OVERHEAD = 512  # bytes an entry takes besides its body (key, headers), roughly


@dataclass(frozen=True)
class Entry:
    start: Message  # http.response.start, as the app sent it
    body: Message  # http.response.body, the whole body at once
    size: int  # body bytes
    answer: Answer  # what the access log and the metrics say of it (its route among them), as of the miss


class ScriptCache:
    """An LRU of whole responses to the script paths in ``paths`` (a live set)."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths

    # Settings are read on the first script request, not when the app is built: with bad settings
    # the app still starts, /healthz answers and /readyz says what is wrong.
    @cached_property
    def lru(self) -> LRU[Entry]:
        settings = get_settings()
        return LRU(settings.render_cache_size, settings.script_cache_bytes)

    @cached_property
    def trusted(self) -> Callable[[str | None], bool]:
        networks = tuple(get_settings().trusted_proxies)
        return lru_cache(maxsize=1024)(lambda host: peer_trusted(host, networks))

    def key(self, scope: Scope) -> tuple[Any, ...] | None:
        """What the answer to an HTTP request depends on, or None if it is not to be cached.

        Only script routes' 200 answers are stored; those routes answer GET and HEAD only, and the
        key holds the method, so other methods always miss."""
        if scope["path"] not in self.paths or not self.lru.max_entries:
            return None
        fields = dict(reversed(scope["headers"]))  # the first of each name counts, as in Starlette
        if not BYPASS_HEADERS.isdisjoint(fields):
            return None
        # as app.http.urls.base_url, an empty value counts as none
        forwarded_proto = fields.get(b"x-forwarded-proto") or None
        forwarded_host = fields.get(b"x-forwarded-host") or None
        if forwarded_proto or forwarded_host:
            client = scope.get("client")
            if not self.trusted(client[0] if client else None):
                forwarded_proto = forwarded_host = None
        return (scope["method"], scope["path"], scope["query_string"], scope["scheme"], fields.get(b"host"),
                fields.get(b"accept"), forwarded_proto, forwarded_host)

    def store(self, key: tuple[Any, ...], entry: Entry) -> None:
        self.lru.store(key, entry, entry.size + OVERHEAD)
