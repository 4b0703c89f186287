"""Script responses are content-addressed and verifiable: ETag, If-None-Match, canonical query, .sha256."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from fastapi.testclient import TestClient

from app import __version__
from app.main import app
from app.routes.scripts import SCRIPTS


client = TestClient(app)

# Spellings of one option set: flags or query names, word booleans, defaults given explicitly, any order.
EQUIVALENT = [
    "nodelocal_dnscache=1&kube_proxy_mode=ipvs",
    "kube-proxy-mode=ipvs&nodelocal-dnscache=yes",
    "NODELOCAL_DNSCACHE=on&encrypt_network=true&kube_proxy_mode=ipvs&pod_cidr=10.32.0.0/12",
    "nodelocal_dnscache&kube_proxy_mode=ipvs&nodelocal_dnscache=TRUE&weave_mtu=",
]


def test_equivalent_option_sets_give_identical_scripts_and_etags():
    responses = [client.get(f"/kubernetes-init?{query}") for query in EQUIVALENT]
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["etag"] for r in responses}) == 1
    assert {r.headers["kubeinit-query"] for r in responses} == {"nodelocal_dnscache=1&kube_proxy_mode=ipvs"}


def test_etag_is_the_sha256_of_the_body_and_differs_between_option_sets():
    plain = client.get("/kubernetes-init")
    tuned = client.get("/kubernetes-init?encrypt_network=0")
    assert plain.headers["etag"] == f'"{hashlib.sha256(plain.content).hexdigest()}"'
    assert tuned.headers["etag"] == f'"{hashlib.sha256(tuned.content).hexdigest()}"'
    assert plain.headers["etag"] != tuned.headers["etag"]
    assert plain.headers["kubeinit-query"] == ""
    assert tuned.headers["kubeinit-query"] == "encrypt_network=0"


def test_script_is_cacheable_by_a_cdn_and_not_transformed():
    response = client.get("/kubernetes-init?nodelocal_dnscache=1")
    directives = {d.strip() for d in response.headers["cache-control"].split(",")}
    assert "public" in directives and "no-transform" in directives
    assert any(d.startswith("max-age=") and int(d.split("=")[1]) > 0 for d in directives)


PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "kube.example.org"}


def test_a_cache_keeps_variants_from_a_trusted_proxy_apart():
    direct = client.get("/kubernetes-init")
    forwarded = TestClient(app, client=("127.0.0.1", 5000)).get("/kubernetes-init", headers=PROXIED)
    assert "# Reproduce this exact script: https://kube.example.org/kubernetes-init" in forwarded.text
    assert direct.headers["etag"] != forwarded.headers["etag"]
    assert direct.headers["vary"] == forwarded.headers["vary"] == "X-Forwarded-Host, X-Forwarded-Proto"


def test_with_a_public_url_the_script_varies_with_nothing(settings_env):
    trusted = settings_env(client=("127.0.0.1", 5000), KUBEINIT_PUBLIC_URL="https://kube.example.org")
    response = trusted.get("/kubernetes-init", headers=PROXIED)
    assert "vary" not in response.headers


@pytest.mark.parametrize("path", ["/kubernetes-init", "/kubernetes-init.sh", "/kubernetes-init.sha256"])
def test_if_none_match_gives_304_without_body(path):
    first = client.get(f"{path}?nodelocal_dnscache=1")
    etag = first.headers["etag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get(f"{path}?nodelocal-dnscache=yes", headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["kubeinit-query"] == "nodelocal_dnscache=1"


def test_if_none_match_of_another_option_set_gives_the_full_script():
    old = client.get("/kubernetes-init").headers["etag"]
    response = client.get("/kubernetes-init?weave_version=2.8.1", headers={"If-None-Match": old})
    assert response.status_code == 200
    assert "WEAVE_VERSION=2.8.1" in response.text
    assert response.headers["etag"] != old


def test_head_carries_the_same_validators_as_get():
    get = client.get("/kubernetes-init?pod_cidr=10.40.0.0/16")
    head = client.head("/kubernetes-init?pod_cidr=10.40.0.0/16")
    assert head.status_code == 200
    for header in ("etag", "cache-control", "kubeinit-query", "content-length"):
        assert head.headers[header] == get.headers[header]


def test_header_comment_names_version_and_the_canonical_url():
    body = client.get("/kubernetes-init?kube-proxy-mode=ipvs&encrypt_network=no").text
    assert f"# kubernetes-init, rendered by kubeinit {__version__}." in body
    assert "# Reproduce this exact script: http://testserver/kubernetes-init?encrypt_network=0&kube_proxy_mode=ipvs" in body


@pytest.mark.parametrize("script", [s.path for s in SCRIPTS])
def test_every_script_route_has_a_checksum_route(script):
    name = script.rsplit("/", 1)[-1]
    body = client.get(script).content
    checksum = client.get(f"{script}.sha256")
    assert checksum.status_code == 200
    assert checksum.headers["content-type"].startswith("text/plain")
    assert checksum.text == f"{hashlib.sha256(body).hexdigest()}  {name}.sh\n"


def test_checksum_route_rejects_bad_options_like_the_script():
    response = client.get("/kubernetes-init.sha256?pod_cidr=10.32.0.1/12", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": [{"option": "pod_cidr", "message": "'10.32.0.1/12' has host bits set: the network is 10.32.0.0/12"}]}


def test_checksum_route_is_in_openapi():
    paths = client.get("/openapi.json").json()["paths"]
    assert "text/plain" in paths["/kubernetes-init.sha256"]["get"]["responses"]["200"]["content"]
    assert {p["name"] for p in paths["/kubernetes-init.sha256"]["get"]["parameters"]} >= {"pod_cidr", "encrypt_network"}


def _curl(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-fsS", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)


def test_sha256sum_verifies_a_script_downloaded_with_curl(live_server, tmp_path):
    query = "nodelocal_dnscache=1&pod_cidr=10.40.0.0/16"
    assert _curl("-o", "kubernetes-init.sh", f"{live_server}/kubernetes-init?{query}", cwd=tmp_path).returncode == 0
    checksum = _curl(f"{live_server}/kubernetes-init.sha256?{query}", cwd=tmp_path)
    verify = subprocess.run(["sha256sum", "-c", "-"], input=checksum.stdout, cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout == "kubernetes-init.sh: OK\n"

    # A script altered after download (here: one byte) fails the check.
    script = tmp_path / "kubernetes-init.sh"
    script.write_text(script.read_text().replace("NODELOCAL_DNSCACHE=1", "NODELOCAL_DNSCACHE=0"))
    tampered = subprocess.run(["sha256sum", "-c", "-"], input=checksum.stdout, cwd=tmp_path,
                              capture_output=True, text=True, check=False)
    assert tampered.returncode == 1
    assert "kubernetes-init.sh: FAILED" in tampered.stdout


def test_curl_revalidation_against_uvicorn_gets_304(live_server, tmp_path):
    url = f"{live_server}/kubernetes-init?encrypt-network=0"
    etag_file = tmp_path / "etag"
    first = _curl("-o", "a.sh", "--etag-save", str(etag_file), "-w", "%{http_code}", url, cwd=tmp_path)
    second = _curl("-o", "b.sh", "--etag-compare", str(etag_file), "-w", "%{http_code}", url, cwd=tmp_path)
    assert (first.stdout, second.stdout) == ("200", "304")
    assert not (tmp_path / "b.sh").exists() or (tmp_path / "b.sh").read_bytes() == b""
