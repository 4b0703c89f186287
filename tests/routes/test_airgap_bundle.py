"""The bundle builder's route: /kubernetes-airgap-bundle renders the builder for the same options as
the installer; a proxy password or a bad mirror in the query is an error script, as for every route."""

from __future__ import annotations

import hashlib
import subprocess

from fastapi.testclient import TestClient

from app.main import app
from tests.support import MAIN_CALL

client = TestClient(app)


def test_the_builder_is_served_with_the_options_baked_in_and_a_checksum_twin() -> None:
    query = {"kubernetes_version": "1.36.2", "nodelocal_dnscache": "1", "http_proxy": "http://proxy.example.com:3128"}
    response = client.get("/kubernetes-airgap-bundle", params=query)
    assert response.status_code == 200
    body = response.text
    assert body.startswith("#!/usr/bin/env bash\n# shellcheck disable=SC2034")
    assert "\nKUBERNETES_VERSION=1.36.2\n" in body and "\nHTTP_PROXY=http://proxy.example.com:3128\n" in body
    assert "\nNODELOCALDNS_IMAGE=registry.k8s.io/dns/k8s-dns-node-cache:" in body  # the images it copies
    assert body.endswith(MAIN_CALL)
    checksum = client.get("/kubernetes-airgap-bundle.sha256", params=query).text
    assert checksum == hashlib.sha256(response.content).hexdigest() + "  kubernetes-airgap-bundle.sh\n"


def said(script: str) -> str:
    """What an error script prints when piped to bash."""
    run = subprocess.run(["bash"], input=script, capture_output=True, text=True, check=False)
    assert run.returncode == 1
    return run.stderr


def test_a_proxy_password_or_a_bad_mirror_in_the_query_is_an_error_script() -> None:
    response = client.get("/kubernetes-airgap-bundle?http_proxy=http://alice:hunter2@proxy.example.com:3128")
    assert response.status_code == 400
    assert "hunter2" not in response.text
    assert "kubeinit: http_proxy: carries a password" in said(response.text)
    response = client.get("/kubernetes-airgap-bundle?registry_mirror=dockerhub=mirror.example.com")
    assert response.status_code == 400
    assert "kubeinit: registry_mirror: 'dockerhub=mirror.example.com' is not REGISTRY=MIRROR" in said(response.text)


def test_the_web_page_and_options_list_the_builder_and_the_network_options() -> None:
    document = client.get("/options").json()
    assert "/kubernetes-airgap-bundle" in [s["path"] for s in document["scripts"]]
    names = [o["name"] for o in document["options"]]
    assert {"http_proxy", "no_proxy", "registry_mirror", "registry_mirror_ca", "airgap"} <= set(names)
