"""The first layer every HTTP request meets, outside FastAPI's own stack (app.main).

In order: the response cache is asked (app.http.script_cache); a request over the size limits gets
its 4xx and nothing else runs (app.http.limits: for a hit, whose path and query passed them when
its answer was kept, the header fields only); a hit is answered from memory; anything else goes to
FastAPI, and a script it answers with a 200 is kept. Every answer is then logged and counted
(app.http.access_log) with its status, duration and size, rejected ones too.

One layer rather than a middleware for each: a cached script, the most common request by far,
costs a key, a lookup and two sends, with no wrapped ``send`` and no other frame in between.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http import access_log
from app.http.limits import limit_response, oversized, oversized_headers
from app.http.script_cache import Entry, ScriptCache


class Front:
    """ASGI middleware: size limits, response cache, access log and request metrics."""

    def __init__(self, app: ASGIApp, script_paths: set[str]) -> None:
        self.app = app
        self.cache = ScriptCache(script_paths)
        access_log.install_default_handler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        key = self.cache.key(scope)
        entry = self.cache.lru.get(key) if key is not None else None
        # A hit's path and query are those of a kept answer, which passed the limits: only its header
        # fields are new.
        problem = oversized(scope) if entry is None else oversized_headers(scope["headers"])
        if problem is not None:
            response = limit_response(scope, problem)
            await response(scope, receive, send)
            access_log.record(access_log.answer_of(scope, response.status_code, len(response.body), None),
                              time.perf_counter() - start)
            return
        if entry is not None:
            try:
                await send(entry.start)
                await send(entry.body)
            finally:
                access_log.record(entry.answer, time.perf_counter() - start)
            return
        await self.forward(scope, receive, send, start, key)

    async def forward(self, scope: Scope, receive: Receive, send: Send, start: float,
                      key: tuple[Any, ...] | None) -> None:
        """Let FastAPI answer; keep a complete 200 answer to a cacheable request."""
        status = 500  # what the client gets if the app fails before it answers
        size = 0
        head: Message = {}
        chunks: list[bytes] | None = [] if key is not None else None  # the body, if it may be kept
        complete = False

        async def send_watched(message: Message) -> None:
            nonlocal status, size, head, complete
            if message["type"] == "http.response.start":
                status, head = message["status"], message
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                size += len(body)
                complete = not message.get("more_body", False)
                if chunks is not None:
                    chunks.append(body)
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            options = access_log.options_hash(scope.get("state", {}).get("options"))
            answered = access_log.answer_of(scope, status, size, options)
            access_log.record(answered, time.perf_counter() - start)
        if chunks is not None and status == 200 and complete:
            body = {"type": "http.response.body", "body": b"".join(chunks)}
            self.cache.store(key, Entry(head, body, size, answered))
