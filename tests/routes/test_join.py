"""GET /kubernetes-node-join: the join script, from the same option model as kubernetes-init."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import app
from tests.support import MAIN_CALL, run_bash

TOKEN = "abcdef.0123456789abcdef"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(app, base_url="http://kubeinit.test:8000")


def test_serves_the_join_script_with_the_query_baked_in(client: TestClient) -> None:
    response = client.get("/kubernetes-node-join?pod-cidr=10.244.0.0/16&kubernetes_version=1.36.2")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-shellscript")
    body = response.text
    assert body.startswith("#!/usr/bin/env bash\n# kubernetes-node-join, rendered by kubeinit")
    assert "KUBERNETES_VERSION=1.36.2\n" in body and "POD_CIDR=10.244.0.0/16\n" in body
    assert "KUBEINIT_QUERY='kubernetes_version=1.36.2&pod_cidr=10.244.0.0/16'" in body
    assert body.endswith(MAIN_CALL)
    assert client.get("/kubernetes-node-join.sh?pod-cidr=10.244.0.0/16&kubernetes_version=1.36.2").text == body
    assert client.head("/kubernetes-node-join").status_code == 200


@pytest.mark.parametrize("name", ["token", "api_server", "ca-cert-hash"])
def test_join_secrets_are_never_query_parameters(client: TestClient, name: str) -> None:
    response = client.get(f"/kubernetes-node-join?{name}=x", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"][0]["message"].startswith("unknown option")


def test_bad_options_get_the_error_script(client: TestClient) -> None:
    response = client.get("/kubernetes-node-join?pod_cidr=10.244.0.1/16")
    assert response.status_code == 400
    result = run_bash(response.text)
    assert result.returncode == 1 and "kubeinit: pod_cidr: '10.244.0.1/16' has host bits set" in result.stderr


def test_openapi_lists_the_route_with_the_options_only(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/kubernetes-node-join"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert "pod_cidr" in names and not names & {"token", "api_server", "ca_cert_hash"}


def test_help_lists_the_join_flags(client: TestClient) -> None:
    result = run_bash(client.get("/kubernetes-node-join").text, "help")
    assert result.returncode == 0
    for line in ("api-server=HOST:PORT", "token=TOKEN", "ca-cert-hash=sha256:HEX"):
        assert f"\n  {line}\n" in result.stdout
    assert "never in the URL" in result.stdout


@pytest.mark.parametrize(("flag", "message"), [
    ("token=ABCDEF.0123456789abcdef", "kubeinit: token: 'ABCDEF.0123456789abcdef' is not TOKEN"),
    ("ca-cert-hash=md5:00", "kubeinit: ca-cert-hash: 'md5:00' is not sha256:HEX"),
    ("api-server=10.0.0.1:99999", "kubeinit: api-server: '10.0.0.1:99999' is not HOST:PORT"),
    ("api-server=bad host", "kubeinit: api-server: 'bad host' is not HOST:PORT"),
])
def test_the_script_checks_the_join_flags(client: TestClient, flag: str, message: str) -> None:
    result = run_bash(client.get("/kubernetes-node-join").text, flag, "dry-run")
    assert result.returncode == 1
    assert message in result.stderr


def test_the_init_script_does_not_take_join_flags(client: TestClient) -> None:
    result = run_bash(client.get("/kubernetes-init").text, f"token={TOKEN}", "dry-run")
    assert result.returncode == 1 and "kubeinit: token: unknown option" in result.stderr
    assert TOKEN not in result.stderr  # the error names the flag, never echoes a secret


def base_url_of(script: str) -> str:
    return next(line.split("=", 1)[1] for line in script.splitlines() if line.startswith("KUBEINIT_BASE_URL="))


@pytest.mark.parametrize(("peer", "expected"), [("127.0.0.1", "https://k8s.example.com"),
                                                ("192.0.2.9", "http://kubeinit.test:8000")])
def test_the_join_command_base_url_believes_forwarded_headers_only_from_trusted_proxies(peer: str, expected: str) -> None:
    client = TestClient(app, base_url="http://kubeinit.test:8000", client=(peer, 40000))
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "k8s.example.com"}
    assert base_url_of(client.get("/kubernetes-init", headers=headers).text) == expected
    assert base_url_of(client.get("/kubernetes-node-join", headers=headers).text) == expected


def test_the_public_url_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from app import rendering
    from app.settings import get_settings

    monkeypatch.setenv("KUBEINIT_PUBLIC_URL", "https://kubeinit.example.org/")
    get_settings.cache_clear()
    rendering._cache.cache_clear()
    try:
        client = TestClient(app, base_url="http://10.0.0.9:8000", client=("127.0.0.1", 40000))
        script = client.get("/kubernetes-init", headers={"X-Forwarded-Host": "other.example.com"}).text
        assert base_url_of(script) == "https://kubeinit.example.org"
    finally:
        monkeypatch.delenv("KUBEINIT_PUBLIC_URL")
        get_settings.cache_clear()
        rendering._cache.cache_clear()
