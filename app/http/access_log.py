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
from typing import NamedTuple

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


class Answer(NamedTuple):
    """What the log and the metrics say of an answered request, bar its time: equal for every request
    answered alike, and made once while ``answer`` keeps it, so that a cached script carries its own
    (app.http.script_cache) and a request's record is this, its duration and its time."""

    route: str | None  # the path template of the route that answered; None: no route
    method: str
    status: int
    middle: str  # the log line between its time and its duration, JSON
    end: str  # and after its duration


@lru_cache(maxsize=1024)
def answer(method: str, path: str, route: str | None, status: int, size: int, options: str | None) -> Answer:
    """``options``: the hash of the options a script was rendered with. Only method and path come from
    the client: both are cut short and escaped."""
    return Answer(route, method, status,
                  f'", "method": {json.dumps(method[:16])}, "path": {json.dumps(path[:MAX_PATH_CHARS])}, '
                  f'"status": {status}, "duration_ms": ',
                  f', "bytes": {size}, "options": {json.dumps(options)}}}')


def answer_of(scope: Scope, status: int, size: int, options: str | None) -> Answer:
    return answer(scope["method"], scope["path"], getattr(scope.get("route"), "path", None), status, size, options)


Record = tuple[Answer, float, float]  # the answer, its duration and its time (seconds since the epoch)

# Requests wait up to FLUSH_SECONDS, or until FLUSH_RECORDS wait, then are counted (the request
# observers) and logged together: on the default handler, in one write. Per request, or per turn of
# the event loop (one or two requests at a time), the write and the bookkeeping cost a worker a fifth
# of its time per cached script (scripts/bench, CPU per request). /metrics flushes first, so a
# scrape counts every answered request; at shutdown (app.main's lifespan) and at exit they are
# flushed; a killed process loses at most FLUSH_SECONDS of lines.
FLUSH_SECONDS = 0.25
FLUSH_RECORDS = 512
# Records, not scopes: a request's scope, kept until the flush, would be walked by every collection meanwhile.
_records: list[Record] = []
_flusher: asyncio.AbstractEventLoop | None = None  # the loop that is to flush them


def _batched() -> bool:
    """Whether the logger writes through the default handler only, which flush() writes to itself."""
    handlers = logger.handlers
    return len(handlers) == 1 and handlers[0] is _default and not logger.filters and not logger.propagate


@lru_cache(maxsize=1024)
def options_hash(options: Options | None) -> str | None:
    """sha256 of the canonical query, 16 hex digits: the same for every spelling of one option set."""
    return hashlib.sha256(canonical_query(options).encode()).hexdigest()[:16] if options is not None else None


# Called by flush() with the records of the requests answered since the last: app.http.metrics adds
# one, so a request is timed and its status read once, for the log and the metrics alike.
REQUEST_OBSERVERS: list[Callable[[list[Record]], None]] = []


def record(answered: Answer, seconds: float) -> None:
    """A request answered in ``seconds``, for the request observers and the log: flush() takes it
    within FLUSH_SECONDS."""
    global _flusher
    _records.append((answered, seconds, time.time()))
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop: now
        loop = None
    if loop is None or len(_records) >= FLUSH_RECORDS:
        flush()
    elif loop is not _flusher:  # also when the loop that was to flush them has gone
        _flusher = loop
        loop.call_later(FLUSH_SECONDS, flush)


def flush() -> None:
    """Count and log the waiting requests: with the default handler in one write, without a
    LogRecord each (two thirds of its cost). Called on the event loop's thread only (and at exit)."""
    global _flusher
    _flusher = None
    if not _records:
        return
    records = _records[:]
    _records.clear()
    try:
        for observe in REQUEST_OBSERVERS:
            observe(records)
    finally:  # a failing observer does not lose the lines
        _log(records)


def _log(records: list[Record]) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    if not _batched():  # another handler: a LogRecord each, of the request's time
        for row in records:
            entry = logger.makeRecord(logger.name, logging.INFO, __file__, 0, line(*row), None, None)
            entry.created, entry.msecs = row[2], row[2] % 1 * 1000
            logger.handle(entry)
        return
    try:
        _default.stream.write("\n".join([line(*row) for row in records]) + "\n")
        _default.stream.flush()
    except (OSError, ValueError):  # a closed stderr must not fail requests; logging's handlers ignore it too
        pass


atexit.register(flush)


def line(answered: Answer, seconds: float, epoch: float) -> str:
    """The JSON log line of a request answered at ``epoch``."""
    return f'{{"time": "{_stamp(int(epoch * 1000))}{answered.middle}{seconds * 1000:.3f}{answered.end}'


@lru_cache(maxsize=1)
def _stamp(epoch_ms: int) -> str:
    """ISO 8601 UTC time to the millisecond: one string per millisecond."""
    return f"{_second(epoch_ms // 1000)}.{epoch_ms % 1000:03d}Z"


@lru_cache(maxsize=2)
def _second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S")
