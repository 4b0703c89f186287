"""Oversized or undecodable requests get a 4xx before any parsing or rendering."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app import rendering
from app.http.limits import MAX_HEADER_BYTES, MAX_HEADERS, MAX_QUERY_BYTES
from app.main import app
from app.routes import scripts
from tests.conftest import port_of, start_uvicorn


@pytest.fixture
def no_rendering(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every call into rendering and parsing: the oversized requests must make none."""
    calls: list[object] = []

    def forbidden(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("rendered or parsed an oversized request")

    monkeypatch.setattr(rendering, "_render", forbidden)
    monkeypatch.setattr(scripts, "_cached_parse_query", lambda: forbidden)
    return calls


@pytest.fixture
def client() -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def test_a_query_over_8_kib_gets_414_and_no_render(client: TestClient, no_rendering: list[object]) -> None:
    query = "cluster_domain=" + "a" * MAX_QUERY_BYTES
    response = client.get("/kubernetes-init?" + query)
    assert response.status_code == 414
    assert "kubeinit: query: is longer than 8192 bytes" in response.text
    assert response.text.rstrip().endswith("exit 1")  # piped to bash it stops
    assert no_rendering == []


def test_a_query_of_exactly_8_kib_is_parsed(client: TestClient) -> None:
    padding = "x" * (MAX_QUERY_BYTES - len("cluster_domain=a&y="))
    response = client.get(f"/kubernetes-init?cluster_domain=a&y={padding}")
    assert len(response.request.url.query) == MAX_QUERY_BYTES
    assert response.status_code == 400  # parsed: y is an unknown option, not a size problem
    assert "kubeinit: y: unknown option" in response.text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"x-padding": "a" * MAX_HEADER_BYTES}, "headers: are larger than 16384 bytes"),
        ({f"x-h{i}": "1" for i in range(MAX_HEADERS + 1)}, "headers: more than 100 header fields"),
    ],
)
def test_oversized_headers_get_431_and_no_render(client: TestClient, no_rendering: list[object],
                                                  headers: dict[str, str], reason: str) -> None:
    response = client.get("/kubernetes-init", headers=headers)
    assert response.status_code == 431
    assert f"kubeinit: {reason}" in response.text
    assert no_rendering == []


@pytest.mark.parametrize("headers", [{"x-padding": "a" * MAX_HEADER_BYTES}, {f"x-h{i}": "1" for i in range(MAX_HEADERS + 1)}])
def test_a_cached_script_still_gets_431_for_oversized_headers(client: TestClient, headers: dict[str, str]) -> None:
    """The response cache is asked first, but a hit's header fields are held to the limits too."""
    assert client.get("/kubernetes-init?weave_mtu=1388").status_code == 200  # now cached
    response = client.get("/kubernetes-init?weave_mtu=1388", headers=headers)
    assert response.status_code == 431 and "kubeinit: headers: " in response.text


def test_limits_answer_json_to_json_clients(client: TestClient, no_rendering: list[object]) -> None:
    response = client.get("/kubernetes-init?" + "a" * (MAX_QUERY_BYTES + 1), headers={"accept": "application/json"})
    assert response.status_code == 414
    assert response.json() == {"detail": [{"option": "query", "message": "is longer than 8192 bytes"}]}


def test_a_query_that_is_not_utf8_gets_400_not_500(no_rendering: list[object]) -> None:
    """Starlette decodes the query strictly when it builds request.url: raw 0xff would be a 500."""
    messages: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/kubernetes-init", "raw_path": b"/kubernetes-init", "query_string": b"cluster_domain=\xff",
             "root_path": "", "headers": [(b"host", b"x")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    assert messages[0]["status"] == 400
    assert b"kubeinit: query: is not UTF-8" in messages[1]["body"]
    assert no_rendering == []


def test_ordinary_requests_pass(client: TestClient) -> None:
    response = client.get("/kubernetes-init?nodelocal_dnscache=1", headers={"user-agent": "curl/8.5.0"})
    assert response.status_code == 200
    assert "NODELOCAL_DNSCACHE=1" in response.text


# The same limits through a real server, with both HTTP parsers uvicorn offers.

@pytest.fixture(scope="module", params=["app.http.server:HttpProtocol", "httptools", "h11"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    proc, url = start_uvicorn(args=("--http", request.param, "--h11-max-incomplete-event-size", str(32 * 1024),
                                    "--log-level", "warning"))
    try:
        yield port_of(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def raw_request(port: int, head: bytes) -> tuple[int, bytes]:
    """Send a raw HTTP/1.1 request head; return the status code and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_server_rejects_a_long_query(server: int) -> None:
    status, body = raw_request(server, b"GET /kubernetes-init?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 414
    assert b"kubeinit: query: is longer than 8192 bytes" in body


def test_server_rejects_large_headers(server: int) -> None:
    status, _ = raw_request(server, b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\nConnection: close\r\n\r\n")
    assert status == 431


def test_server_refuses_a_100_kib_head(server: int) -> None:
    """Past the protocol's bound (h11's, ours) or the middleware's, a 100 KiB head gets a 4xx."""
    status, _ = raw_request(server, b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100_000 + b"\r\nConnection: close\r\n\r\n")
    assert 400 <= status < 500


def test_the_bounded_protocol_refuses_an_endless_head_early() -> None:
    """The production protocol answers 431 and hangs up long before a 64 MiB header is sent."""
    proc, url = start_uvicorn(args=("--http", "app.http.server:HttpProtocol", "--log-level", "warning"))
    port = port_of(url)
    try:
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /kubernetes-init HTTP/1.1\r\nHost: x\r\nX-Pad: ")
            chunk = b"a" * 65536
            try:
                while sent < 64 * 2**20:
                    conn.sendall(chunk)
                    sent += len(chunk)
            except OSError:  # reset: the server hung up
                pass
            try:
                answer = conn.recv(200)
            except ConnectionResetError:  # the 431 was sent, but the reset overtook it
                answer = b"reset"
        assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"reset"
        assert sent < 16 * 2**20  # an unbounded server reads on: the whole 64 MiB
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_server_rejects_a_query_that_is_not_utf8(server: int) -> None:
    status, body = raw_request(server, b"GET /kubernetes-init?cluster_domain=\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 400  # the HTTP parser itself refuses raw non-ASCII; the middleware covers other servers


def test_server_serves_ordinary_requests(server: int) -> None:
    status, body = raw_request(server, b"GET /kubernetes-init?encrypt-network=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert b"\nENCRYPT_NETWORK=0\n" in body  # the default is 1: the query was applied
