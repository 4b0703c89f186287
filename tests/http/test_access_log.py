"""One structured line per request; no option value ever reaches the log."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from app.http import access_log
from app.http.access_log import logger
from app.main import app
from tests.conftest import port_of, start_uvicorn

client = TestClient(app)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self) -> list[dict[str, object]]:
        access_log.flush()  # the requests of the last quarter second
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def log() -> Iterator[Lines]:
    access_log.flush()  # what earlier tests left
    handler = Lines()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_one_json_line_per_request_with_the_fields(log: Lines) -> None:
    client.get("/kubernetes-init?nodelocal_dnscache=1")
    client.head("/kubernetes-init.sh")
    client.get("/healthz")
    records = log.records()
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/kubernetes-init", 200), ("HEAD", "/kubernetes-init.sh", 200), ("GET", "/healthz", 200)]
    for record in records:
        assert set(record) == {"time", "method", "path", "status", "duration_ms", "bytes", "options"}
        assert isinstance(record["duration_ms"], float) and 0 < record["duration_ms"] < 60_000
        assert "\n" not in json.dumps(record)
    assert records[0]["bytes"] > 1000
    assert records[2]["options"] is None  # not a script


def test_options_hash_is_the_canonical_query_hash_for_every_spelling(log: Lines) -> None:
    for query in ("encrypt_network=0&pod_cidr=10.40.0.0/16", "pod-cidr=10.40.0.0/16&ENCRYPT-NETWORK=off", ""):
        assert client.get("/kubernetes-init?" + query).status_code == 200
    client.get("/kubernetes-init?" + query)  # again: now answered from the response cache
    first, second, default, repeated = (r["options"] for r in log.records())
    assert first == second == hashlib.sha256(b"encrypt_network=0&pod_cidr=10.40.0.0/16").hexdigest()[:16]
    assert default == repeated == hashlib.sha256(b"").hexdigest()[:16]


def test_no_query_value_is_logged(log: Lines) -> None:
    client.get("/kubernetes-init?public_address=needle-one.example.com")
    client.get("/kubernetes-init?public_address=NEEDLE-TWO")  # rejected: upper case
    client.get("/kubernetes-init?needle_three=1")
    client.get("/kubernetes-init?x=" + "needle-four" * 1000)  # too long
    client.get("/kubernetes-init", headers={"authorization": "Bearer needle-five", "x-forwarded-host": "needle-six"})
    assert [r["status"] for r in log.records()] == [200, 400, 400, 414, 200]
    text = "\n".join(log.lines).lower()
    assert "needle" not in text


def test_hostile_paths_stay_one_escaped_line(log: Lines) -> None:
    client.get('/kubernetes-init%0a{"status":%20200}%22' + "x" * 500)
    (record,) = log.records()
    assert record["status"] == 404
    assert record["path"].startswith('/kubernetes-init\n{"status": 200}"')
    assert len(record["path"]) == 200  # truncated
    assert len(log.lines) == 1 and "\n" not in log.lines[0]


def test_a_real_server_writes_every_line_whole_to_stderr_and_loses_none_when_stopped() -> None:
    """The default handler writes the lines of many requests together: pipelined requests still give
    one whole line each, and a stop (SIGTERM, at once: before the quarter second is out) flushes the rest."""
    proc, url = start_uvicorn(args=("--log-level", "warning", "--no-access-log"))
    port = port_of(url)
    requests = b"".join(f"GET /kubernetes-init?weave_mtu={1400 + i} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                        for i in range(20))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(requests + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while conn.recv(1 << 20):
                pass
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    assert [line["path"] for line in lines] == ["/healthz"] * 1 + ["/kubernetes-init"] * 20 + ["/healthz"]
    assert [line["status"] for line in lines] == [200] * 22
    assert len({line["options"] for line in lines[1:-1]}) == 20  # each its own option set


class Route:
    def __init__(self, path: str) -> None:
        self.path = path


def answered(path: str, status: int = 200) -> access_log.Answer:
    return access_log.answer_of({"type": "http", "method": "GET", "path": path, "route": Route(path)}, status, 10, None)


def default_handler(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The logger on its default handler alone (as deployed), writing into the list returned. Called in
    the test's body: pytest adds its capture handlers to every logger after the fixtures."""
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    access_log.flush()  # what earlier tests left
    monkeypatch.setattr(access_log._default, "stream", Stream())
    monkeypatch.setattr(logger, "handlers", [access_log._default])
    monkeypatch.setattr(logger, "propagate", False)
    return writes


def test_no_line_waits_on_an_event_loop_that_has_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests wait a quarter of a second at most; if their loop stops first, the next one writes them."""
    written = default_handler(monkeypatch)

    class Loop:
        def __init__(self) -> None:
            self.callbacks: list[Callable[[], None]] = []

        def call_later(self, delay: float, callback: Callable[[], None]) -> None:
            assert delay == access_log.FLUSH_SECONDS == 0.25
            self.callbacks.append(callback)

    gone, next_one = Loop(), Loop()
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: gone)
    access_log.record(answered("/one"), 0.001)
    access_log.record(answered("/two"), 0.001)
    assert written == [] and len(gone.callbacks) == 1  # one flush for them, never run
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: next_one)
    access_log.record(answered("/three", 404), 0.001)
    for callback in next_one.callbacks:
        callback()
    assert len(written) == 1  # one write
    assert [json.loads(text)["path"] for text in written[0].splitlines()] == ["/one", "/two", "/three"]


def test_under_load_requests_are_counted_and_logged_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many requests within the quarter second: one write per FLUSH_RECORDS lines, the request observers
    told of each."""
    written = default_handler(monkeypatch)

    class Loop:
        def call_later(self, delay: float, callback: Callable[[], None]) -> None:
            pass  # the quarter second never ends here

    seen: list[object] = []
    monkeypatch.setattr(access_log, "REQUEST_OBSERVERS", [
        lambda records: seen.extend(answer.route for answer, _, _ in records)])
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: Loop())
    total = 2 * access_log.FLUSH_RECORDS + 5
    for number in range(total):
        access_log.record(answered(f"/{number}"), 0.001)
    assert [text.count("\n") for text in written] == [access_log.FLUSH_RECORDS] * 2
    assert len(seen) == 2 * access_log.FLUSH_RECORDS
    access_log.flush()
    assert [json.loads(text)["path"] for text in "".join(written).splitlines()] == [
        f"/{n}" for n in range(total)]
    assert seen == [f"/{n}" for n in range(total)]


def test_another_handler_gets_each_line_within_the_quarter_second_with_the_request_time(log: Lines) -> None:
    """With a handler of the deployment's, lines are LogRecords, one each, flushed by the event loop
    without a request or a scrape to push them, and dated when the request was answered."""
    created: list[float] = []
    log.addFilter(lambda entry: bool(created.append(entry.created)) or True)

    async def two_requests() -> float:
        answered_at = time.time()
        access_log.record(answered("/one"), 0.001)
        access_log.record(answered("/two"), 0.001)
        await asyncio.sleep(access_log.FLUSH_SECONDS / 5)
        assert log.lines == []  # waiting for the flush
        await asyncio.sleep(access_log.FLUSH_SECONDS)
        return answered_at

    answered_at = asyncio.run(two_requests())
    assert [json.loads(text)["path"] for text in log.lines] == ["/one", "/two"]
    assert all(abs(stamp - answered_at) < 0.05 for stamp in created)  # not the flush's time, 0.25 s later
