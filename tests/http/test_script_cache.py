"""The response cache in front of routing: hits skip parsing and rendering, the key holds
everything a script depends on, and the cache stays within its bounds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import rendering
from app.http import access_log
from app.http.front import Front
from app.main import app
from app.routes import scripts
from app.http.script_cache import OVERHEAD, ScriptCache
from app.lru import LRU


def cache_of(application: FastAPI) -> ScriptCache:
    """The response cache of the app's front layer (built on first request)."""
    front = application.middleware_stack
    assert isinstance(front, Front)
    return front.cache


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client on a fresh middleware stack, so each test starts with an empty cache; the stack
    (which tests may change) is rebuilt afterwards too."""
    app.middleware_stack = None
    yield TestClient(app, client=("203.0.113.9", 40000))
    app.middleware_stack = None


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    calls: list[tuple[object, ...]] = []
    original = rendering._render

    def counting(*args: object) -> rendering.Rendered:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(rendering, "_render", counting)
    monkeypatch.setattr(rendering, "_cache", lambda: LRU(0, 0))  # no render cache: every miss renders
    monkeypatch.setattr(scripts, "_cached_parse_query", lambda: scripts.parse_query)
    return calls


def test_a_repeated_request_is_served_without_rendering(client: TestClient, renders: list[object]) -> None:
    first = client.get("/kubernetes-init?nodelocal_dnscache=1")
    second = client.get("/kubernetes-init?nodelocal_dnscache=1")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers == second.headers
    assert len(renders) == 1
    client.get("/kubernetes-init.sh?nodelocal_dnscache=1")  # another path: another entry
    assert len(renders) == 2


def test_the_base_url_is_part_of_the_key(client: TestClient, renders: list[object]) -> None:
    one = client.get("/kubernetes-init", headers={"host": "one.example"}).text
    two = client.get("/kubernetes-init", headers={"host": "two.example"}).text
    assert "http://one.example/kubernetes-init" in one
    assert "http://two.example/kubernetes-init" in two and "one.example" not in two


def test_of_a_repeated_header_the_first_counts_for_the_key_as_for_the_answer(client: TestClient,
                                                                          renders: list[object]) -> None:
    """Starlette, and so the base URL, reads the first Host: a request whose first Host is empty is
    refused (400), even when an answer for its second one is cached."""
    assert client.get("/kubernetes-init", headers={"host": "two.example"}).status_code == 200
    repeated = client.get("/kubernetes-init", headers=[("host", ""), ("host", "two.example")])
    assert repeated.status_code == 400 and "Host" in repeated.text
    assert client.get("/kubernetes-init", headers=[("host", "two.example"), ("host", "")]).status_code == 200
    assert len(renders) == 1  # that last one: the cached answer


def test_forwarded_headers_of_an_untrusted_peer_cannot_poison_the_cache(client: TestClient,
                                                                        renders: list[object]) -> None:
    proxy = TestClient(app, client=("127.0.0.1", 40000))  # a trusted proxy by default
    stranger = TestClient(app, client=("203.0.113.9", 40000))
    forwarded = {"host": "svc.internal", "x-forwarded-host": "kubeinit.example", "x-forwarded-proto": "https"}
    assert "https://kubeinit.example/kubernetes-init" in proxy.get("/kubernetes-init", headers=forwarded).text
    answer = stranger.get("/kubernetes-init", headers=forwarded).text
    assert "kubeinit.example" not in answer and "http://svc.internal/kubernetes-init" in answer
    # and the reverse order: the stranger's answer does not stick to the proxy's key either
    assert "https://kubeinit.example/" in proxy.get("/kubernetes-init", headers=forwarded).text


def test_errors_are_not_kept(client: TestClient, renders: list[object]) -> None:
    for _ in range(2):
        response = client.get("/kubernetes-init?pod_cidr=bad")
        assert response.status_code == 400
    assert cache_of(app).lru.entries == {}


def test_head_gets_headers_only_and_conditional_requests_go_to_the_app(client: TestClient,
                                                                       renders: list[object]) -> None:
    get = client.get("/kubernetes-init")
    head = client.head("/kubernetes-init")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    before = len(renders)
    client.get("/kubernetes-init", headers={"if-none-match": '"x"'})
    assert len(renders) == before + 1


def test_the_cache_is_bounded_in_entries_and_bytes(client: TestClient, renders: list[object]) -> None:
    client.get("/kubernetes-init")
    cache = cache_of(app).lru
    cache.max_entries = 5
    for mtu in range(1000, 1020):
        assert client.get(f"/kubernetes-init?weave_mtu={mtu}").status_code == 200
    assert len(cache.entries) == 5
    assert cache.size == sum(e.size + OVERHEAD for e, _ in cache.entries.values())
    cache.max_bytes = 2 * (next(iter(cache.entries.values()))[0].size + OVERHEAD + 100)
    client.get("/kubernetes-init?weave_mtu=2000")
    assert len(cache.entries) == 2 and cache.size <= cache.max_bytes
    # the newest stays: a repeat is a hit
    before = len(renders)
    client.get("/kubernetes-init?weave_mtu=2000")
    assert len(renders) == before


def test_a_cache_size_of_zero_disables_it(client: TestClient, renders: list[object]) -> None:
    client.get("/kubernetes-init")
    cache_of(app).lru.max_entries = 0
    client.get("/kubernetes-init")
    client.get("/kubernetes-init")
    assert len(renders) == 3


def test_a_hit_is_logged_and_counted_as_the_miss_was(client: TestClient, renders: list[object],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The request observers (metrics by route) and the access log see a hit as they saw the miss."""
    seen: list[tuple[object, ...]] = []
    access_log.flush()  # what earlier tests left
    original_line = access_log.line
    monkeypatch.setattr(access_log, "REQUEST_OBSERVERS", [
        lambda records: seen.extend((answer.route, answer.status) for answer, _, _ in records)])

    def line(*fields: Any) -> str:
        text = original_line(*fields)
        seen.append((text,))
        return text

    monkeypatch.setattr(access_log, "line", line)
    for _ in range(2):
        client.get("/kubernetes-init.sh?kube_proxy_mode=ipvs")
        access_log.flush()
    assert len(renders) == 1  # the second was a hit
    miss_route, miss_line, hit_route, hit_line = seen[0], seen[1][0], seen[2], seen[3][0]
    assert miss_route == hit_route == ("/kubernetes-init.sh", 200)
    drop_timing = lambda line: {k: v for k, v in json.loads(line).items() if k not in ("time", "duration_ms")}  # noqa: E731
    assert drop_timing(miss_line) == drop_timing(hit_line)
    assert drop_timing(hit_line)["options"] == access_log.options_hash(scripts.parse_query(b"kube_proxy_mode=ipvs"))
