"""Answers repeated script requests from memory, before routing, parsing or rendering.

A served script depends only on its path, its query string and the service's base URL, which
comes from the request's scheme and Host header, or from X-Forwarded-Proto/-Host when the peer
is a trusted proxy (app/urls.py). Those form the key, with the method and Accept header. Only
complete 200 answers are kept, in an LRU bounded in entries (``render_cache_size``; 0 disables
it, as it disables the render cache) and in bytes (``script_cache_bytes``). Conditional and
range requests always go to the app.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.rendering import RENDER_OBSERVERS
from app.settings import get_settings
from app.urls import peer_trusted

# The headers base_url() and the response depend on; the first of each counts, as in Starlette.
KEY_HEADERS = (b"host", b"accept", b"x-forwarded-proto", b"x-forwarded-host")
BYPASS_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"if-match", b"if-unmodified-since",
                            b"range", b"if-range", b"cache-control"))


@dataclass(frozen=True)
class Entry:
    start: Message
    body: bytes
    options: Any  # what the access log hashes
    route: Any  # the route that answered, for whatever labels requests by route


class ScriptCache:
    """ASGI middleware serving the paths in ``paths`` (a live set) from an LRU of whole responses."""

    def __init__(self, app: ASGIApp, paths: set[str]) -> None:
        self.app = app
        self.paths = paths
        self.size = 0
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()

    # Settings are read on the first script request, not when the app is built: with bad settings
    # the app still starts, /healthz answers and /readyz says what is wrong.
    @cached_property
    def max_entries(self) -> int:
        return get_settings().render_cache_size

    @cached_property
    def max_bytes(self) -> int:
        return get_settings().script_cache_bytes

    @cached_property
    def trusted(self) -> Callable[[str | None], bool]:
        networks = tuple(get_settings().trusted_proxies)
        return lru_cache(maxsize=1024)(lambda host: peer_trusted(host, networks))

    def key(self, scope: Scope) -> tuple[Any, ...] | None:
        values: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in BYPASS_HEADERS:
                return None
            if name in KEY_HEADERS:
                values.setdefault(name, value)
        client = scope.get("client")
        trusted = self.trusted(client[0] if client else None)
        forwarded = (values.get(b"x-forwarded-proto"), values.get(b"x-forwarded-host")) if trusted else None
        return (scope["method"], scope["path"], scope["query_string"], scope["scheme"],
                values.get(b"host"), values.get(b"accept"), forwarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] not in ("GET", "HEAD")
                or not self.max_entries or (key := self.key(scope)) is None):
            await self.app(scope, receive, send)
            return
        entry = self.entries.get(key)
        if entry is not None:
            for observe in RENDER_OBSERVERS:  # a rendered script served from memory: a render cache hit
                observe(True, 0.0)
            self.entries.move_to_end(key)
            scope.setdefault("state", {})["options"] = entry.options
            scope["route"] = entry.route
            await send(entry.start)
            await send({"type": "http.response.body", "body": entry.body})
            return
        start: Message = {}
        chunks: list[bytes] = []
        complete = False

        async def send_capturing(message: Message) -> None:
            nonlocal start, complete
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, send_capturing)
        if start.get("status") == 200 and complete:
            self.store(key, Entry(start, b"".join(chunks), scope.get("state", {}).get("options"), scope.get("route")))

    def store(self, key: tuple[Any, ...], entry: Entry) -> None:
        size = len(entry.body) + 512  # the key and headers, roughly
        if size > self.max_bytes:
            return
        self.entries[key] = entry
        self.size += size
        while len(self.entries) > self.max_entries or self.size > self.max_bytes:
            _, old = self.entries.popitem(last=False)
            self.size -= len(old.body) + 512
