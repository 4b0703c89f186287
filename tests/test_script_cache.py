"""The response cache in front of routing: hits skip parsing and rendering, the key holds
everything a script depends on, and the cache stays within its bounds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import rendering
from app.main import app
from app.routes import scripts
from app.script_cache import ScriptCache


def cache_of(application: FastAPI) -> ScriptCache:
    """The ScriptCache instance in the app's middleware stack (built on first request)."""
    layer = application.middleware_stack
    while not isinstance(layer, ScriptCache):
        layer = layer.app
    return layer


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
    monkeypatch.setattr(rendering, "_cached", lambda: counting)  # no render cache: every miss renders
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
    assert cache_of(app).entries == {}


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
    cache = cache_of(app)
    cache.max_entries = 5
    for mtu in range(1000, 1020):
        assert client.get(f"/kubernetes-init?weave_mtu={mtu}").status_code == 200
    assert len(cache.entries) == 5
    assert cache.size == sum(len(e.body) + 512 for e in cache.entries.values())
    cache.max_bytes = 2 * (len(next(iter(cache.entries.values())).body) + 600)
    client.get("/kubernetes-init?weave_mtu=2000")
    assert len(cache.entries) == 2 and cache.size <= cache.max_bytes
    # the newest stays: a repeat is a hit
    before = len(renders)
    client.get("/kubernetes-init?weave_mtu=2000")
    assert len(renders) == before


def test_a_cache_size_of_zero_disables_it(client: TestClient, renders: list[object]) -> None:
    client.get("/kubernetes-init")
    cache_of(app).max_entries = 0
    client.get("/kubernetes-init")
    client.get("/kubernetes-init")
    assert len(renders) == 3


def test_a_hit_carries_the_route_and_options_of_the_answer(client: TestClient, renders: list[object]) -> None:
    """Middleware outside the cache (access log, metrics by route) sees a hit as it saw the miss."""
    seen: list[tuple[object, object]] = []
    client.get("/kubernetes-init.sh?kube_proxy_mode=ipvs")
    cache = cache_of(app)

    async def probe(scope, receive, send):  # type: ignore[no-untyped-def]
        await cache(scope, receive, send)
        seen.append((getattr(scope.get("route"), "path", None), scope["state"]["options"].kube_proxy_mode))

    outer = app.middleware_stack
    while outer.app is not cache:
        outer = outer.app
    outer.app = probe
    client.get("/kubernetes-init.sh?kube_proxy_mode=ipvs")
    assert len(renders) == 1  # a hit
    assert seen == [("/kubernetes-init.sh", "ipvs")]
