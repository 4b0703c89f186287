"""One JSON line per request on the ``kubeinit.access`` logger (stderr unless configured otherwise).

A line holds the method, path, status, duration, response size and ``options``: a short hash
of the canonical query of the options a script was rendered with, so equal option sets are
counted together without logging any value. Query values and headers are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from datetime import UTC, datetime
from collections.abc import Callable
from functools import lru_cache

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.params import Options, canonical_query

logger = logging.getLogger("kubeinit.access")
MAX_PATH_CHARS = 200


_default = logging.StreamHandler(sys.stderr)
_default.setFormatter(logging.Formatter("%(message)s"))


def _default_handler() -> None:
    """INFO, as bare JSON lines on stderr, unless the deployment configured the logger itself."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers:
        logger.addHandler(_default)
        logger.propagate = False


def emit(message: str) -> None:
    if logger.handlers == [_default] and not logger.filters and not logger.propagate:
        # What the default handler would write, without building a LogRecord (two thirds of the cost).
        try:
            _default.stream.write(message + "\n")
            _default.stream.flush()
        except OSError:  # a closed stderr must not fail requests; logging's handlers ignore it too
            pass
    else:
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, None, None))


@lru_cache(maxsize=1024)
def options_hash(options: Options) -> str:
    """sha256 of the canonical query, 16 hex digits: the same for every spelling of one option set."""
    return hashlib.sha256(canonical_query(options).encode()).hexdigest()[:16]


# Called after every HTTP request with (scope, status, seconds): app.metrics adds one, so the
# request is timed and its status read once, here, for the log and the metrics alike.
REQUEST_OBSERVERS: list[Callable[[Scope, int, float], None]] = []


class AccessLog:
    """ASGI middleware writing the access log line once the response is complete, and telling
    the request observers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _default_handler()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers
        size = 0

        async def send_counting(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            seconds = time.perf_counter() - start
            for observe in REQUEST_OBSERVERS:
                observe(scope, status, seconds)
            if logger.isEnabledFor(logging.INFO):
                options = scope.get("state", {}).get("options")
                emit(line(scope["method"], scope["path"], status, seconds, size,
                          options_hash(options) if isinstance(options, Options) else None))


def line(method: str, path: str, status: int, seconds: float, size: int, options: str | None) -> str:
    """The JSON log line; only method and path come from the client, and both are escaped."""
    now = time.time()
    return (f'{{"time": "{_second(int(now))}.{int(now * 1000) % 1000:03d}Z", "method": {_json(method[:16])}, '
            f'"path": {_json(path[:MAX_PATH_CHARS])}, "status": {status}, "duration_ms": {seconds * 1000:.3f}, '
            f'"bytes": {size}, "options": {_json(options)}}}')


@lru_cache(maxsize=2)
def _second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@lru_cache(maxsize=1024)
def _json(value: str | None) -> str:
    """JSON of a string that recurs (methods, paths, hashes): encoded once."""
    return json.dumps(value)
