"""One JSON line per request on the ``kubeinit.access`` logger (stderr unless configured otherwise).

A line holds the method, path, status, duration, response size and ``options``: a short hash
of the canonical query of the options a script was rendered with, so equal option sets are
counted together without logging any value. Query values and headers are never logged.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import logging
import sys
import time
from datetime import UTC, datetime
from collections.abc import Callable
from functools import lru_cache

from starlette.types import Scope

from app.params import Options, canonical_query

logger = logging.getLogger("kubeinit.access")
MAX_PATH_CHARS = 200


_default = logging.StreamHandler(sys.stderr)
_default.setFormatter(logging.Formatter("%(message)s"))


def install_default_handler() -> None:
    """INFO, as bare JSON lines on stderr, unless the deployment configured the logger itself."""
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers:
        logger.addHandler(_default)
        logger.propagate = False


_pending: list[str] = []  # lines for the default handler, written once per turn of the event loop
_writer: asyncio.AbstractEventLoop | None = None  # the loop that is to write them


def _write_pending() -> None:
    global _writer
    _writer = None
    if not _pending:
        return
    text = "\n".join(_pending) + "\n"
    _pending.clear()
    try:
        _default.stream.write(text)
        _default.stream.flush()
    except OSError:  # a closed stderr must not fail requests; logging's handlers ignore it too
        pass


atexit.register(_write_pending)


def emit(message: str) -> None:
    global _writer
    handlers = logger.handlers
    if len(handlers) == 1 and handlers[0] is _default and not logger.filters and not logger.propagate:
        # What the default handler would write, without a LogRecord (two thirds of its cost), and
        # in one write for all the requests answered in one turn of the event loop: under load,
        # one system call for many lines instead of one each.
        _pending.append(message)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: now
            _write_pending()
            return
        if loop is not _writer:  # also when the loop that was to write them has gone
            _writer = loop
            loop.call_soon(_write_pending)
    else:
        logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, None, None))


@lru_cache(maxsize=1024)
def options_hash(options: Options | None) -> str | None:
    """sha256 of the canonical query, 16 hex digits: the same for every spelling of one option set."""
    return hashlib.sha256(canonical_query(options).encode()).hexdigest()[:16] if options is not None else None


# Called by record() after every HTTP request with (scope, status, seconds): app.http.metrics adds one,
# so a request is timed and its status read once, for the log and the metrics alike.
REQUEST_OBSERVERS: list[Callable[[Scope, int, float], None]] = []


def record(scope: Scope, status: int, seconds: float, size: int, options: str | None) -> None:
    """Tell the request observers about an answered request, and log it (``options``: its hash)."""
    for observe in REQUEST_OBSERVERS:
        observe(scope, status, seconds)
    if logger.isEnabledFor(logging.INFO):
        emit(line(scope["method"], scope["path"], status, seconds, size, options))


def line(method: str, path: str, status: int, seconds: float, size: int, options: str | None) -> str:
    """The JSON log line; only method and path come from the client, and both are escaped."""
    return (f'{{"time": "{_stamp(int(time.time() * 1000))}", {_request(method, path, status)}, '
            f'"duration_ms": {seconds * 1000:.3f}, "bytes": {size}, "options": {_json(options)}}}')


@lru_cache(maxsize=1)
def _stamp(epoch_ms: int) -> str:
    """ISO 8601 UTC time to the millisecond: one string per millisecond."""
    return f"{_second(epoch_ms // 1000)}.{epoch_ms % 1000:03d}Z"


@lru_cache(maxsize=2)
def _second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")


@lru_cache(maxsize=1024)
def _request(method: str, path: str, status: int) -> str:
    """The fields of a request that recurs, JSON-encoded once."""
    return f'"method": {json.dumps(method[:16])}, "path": {json.dumps(path[:MAX_PATH_CHARS])}, "status": {status}'


@lru_cache(maxsize=1024)
def _json(value: str | None) -> str:
    """JSON of a string that recurs (options hashes): encoded once."""
    return json.dumps(value)
