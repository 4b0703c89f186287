"""The production HTTP protocol (app.http.server): each response head leaves with its body, and every
kind of response still arrives whole through a real uvicorn: bodies, HEAD, 304, pipelining."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from app.http.server import HeadWithBody
from tests.conftest import port_of, start_uvicorn
from tests.support import MAIN_CALL


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, data: tuple[bytes, ...]) -> None:
        self.calls.append(("writelines", data))

    def close(self) -> None:
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return False


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"


def test_the_head_is_written_with_the_first_body_bytes() -> None:
    transport = Transport()
    held = HeadWithBody(transport)
    held.write(HEAD)
    assert transport.calls == []
    held.write(b"body")
    held.write(b"more")
    assert transport.calls == [("writelines", (HEAD, b"body")), ("write", b"more")]


def test_a_response_without_body_bytes_is_flushed_and_close_sends_what_is_held() -> None:
    transport = Transport()
    held = HeadWithBody(transport)
    held.write(HEAD)
    held.flush()
    held.flush()  # once only
    assert transport.calls == [("write", HEAD)]
    transport.calls.clear()
    other = HeadWithBody(transport)
    other.write(HEAD)
    other.close()
    assert transport.calls == [("write", HEAD), ("close", None)]


def test_an_interim_100_continue_is_not_held() -> None:
    transport = Transport()
    held = HeadWithBody(transport)
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
    held.write(HEAD)
    held.write(b"body")
    assert transport.calls[1:] == [("writelines", (HEAD, b"body"))]
    assert not held.is_closing()  # everything else is the transport's


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    proc, url = start_uvicorn(args=("--http", "app.http.server:HttpProtocol", "--loop", "uvloop", "--log-level", "warning"))
    try:
        yield port_of(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def exchange(port: int, requests: bytes, answers: int) -> list[tuple[bytes, dict[bytes, bytes], bytes]]:
    """Send raw requests on one connection; read ``answers`` responses (bodies by content-length,
    none for HEAD and 304)."""
    heads_only = [line.startswith(b"HEAD ") for line in requests.split(b"\r\n") if line[:4] in (b"GET ", b"HEAD")]
    responses = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(requests)
        data = b""
        for head_only in heads_only[:answers]:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                assert chunk, "connection closed early"
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            status, *lines = head.split(b"\r\n")
            headers = dict(line.lower().split(b": ", 1) for line in lines)
            length = 0 if head_only or status.split()[1] == b"304" else int(headers[b"content-length"])
            while len(data) < length:
                chunk = conn.recv(65536)
                assert chunk, "connection closed early"
                data += chunk
            responses.append((status, headers, data[:length]))
            data = data[length:]
    return responses


def test_get_head_and_304_arrive_whole_on_one_connection(server: int) -> None:
    (status, headers, body), = exchange(server, b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\n\r\n", 1)
    assert status == b"HTTP/1.1 200 OK" and len(body) == int(headers[b"content-length"])
    assert body.endswith(MAIN_CALL.encode())
    etag = headers[b"etag"]
    answers = exchange(server, b"HEAD /kubernetes-init HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + b"\r\n\r\n"
                               b"HEAD /kubernetes-troubleshoot HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 4)
    assert [a[0].split()[1] for a in answers] == [b"200", b"304", b"200", b"200"]
    assert answers[0][1][b"content-length"] == headers[b"content-length"] and answers[0][2] == b""
    assert answers[1][1][b"etag"] == etag and answers[1][2] == b""
    assert answers[3][2] == body
