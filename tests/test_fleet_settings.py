"""Fleet settings: option defaults and registry mirrors reach the script; bad settings stop readiness."""

from __future__ import annotations

import re

import pytest

from app.settings import Settings, get_settings, mirrored


def header(body: str, name: str) -> str:
    return re.search(rf"^{re.escape(name)}=(.*)$", body, re.M).group(1)


MIRRORS = '{"docker.io": "mirror.example.com/hub", "registry.k8s.io": "mirror.example.com:5000/k8s"}'


def test_mirrors_replace_the_registry_of_every_image(settings_env):
    body = settings_env(KUBEINIT_IMAGE_REGISTRY_MIRRORS=MIRRORS).get("/kubernetes-init?weave_version=2.9.0").text
    assert header(body, "  [2.9.0]") == "mirror.example.com/hub/rajchaudhuri"
    assert header(body, "  [2.8.1]") == "mirror.example.com/hub/weaveworks"
    assert header(body, "NODELOCALDNS_IMAGE") == "mirror.example.com:5000/k8s/dns/k8s-dns-node-cache:1.26.8"
    assert header(body, "KUBEADM_IMAGE_REPOSITORY") == "mirror.example.com:5000/k8s"
    assert header(body, "DNS_TEST_IMAGE") == "mirror.example.com:5000/k8s/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85"


def test_without_mirrors_images_come_from_their_registries(settings_env):
    body = settings_env().get("/kubernetes-init").text
    assert header(body, "  [2.8.1]") == "docker.io/weaveworks"
    assert header(body, "KUBEADM_IMAGE_REPOSITORY") == "registry.k8s.io"


@pytest.mark.parametrize(("ref", "expected"), [
    ("weaveworks/weave-kube:2.8.1", "hub.local/weaveworks/weave-kube:2.8.1"),  # no registry: Docker Hub
    ("docker.io/weaveworks", "hub.local/weaveworks"),
    ("quay.io/coreos/etcd:v3", "quay.io/coreos/etcd:v3"),  # no mirror for it: unchanged
    ("localhost:5000/x", "localhost:5000/x"),
])
def test_mirrored(ref, expected):
    assert mirrored(ref, {"docker.io": "hub.local"}) == expected


def test_fleet_defaults_apply_when_the_query_is_silent(settings_env):
    client = settings_env(KUBEINIT_OPTION_DEFAULTS='{"kubernetes-version": "1.36", "nodelocal_dnscache": "yes"}')
    assert get_settings().option_defaults == {"kubernetes_version": "1.36", "nodelocal_dnscache": "1"}  # canonical
    body = client.get("/kubernetes-init").text
    assert header(body, "KUBERNETES_VERSION") == "1.36" and header(body, "NODELOCAL_DNSCACHE") == "1"
    # the script names its own values: the reproduce URL gives the same script even if the defaults change
    assert header(body, "KUBEINIT_QUERY") == "'nodelocal_dnscache=1&kubernetes_version=1.36'"
    body = client.get("/kubernetes-init?kubernetes_version=1.37&nodelocal-dnscache=0").text
    assert header(body, "KUBERNETES_VERSION") == "1.37" and header(body, "NODELOCAL_DNSCACHE") == "0"
    # even values equal to the built-in defaults: this server would otherwise fill in its own
    assert header(body, "KUBEINIT_QUERY") == "'nodelocal_dnscache=0&kubernetes_version=1.37'"


def test_the_page_and_options_show_the_fleet_defaults(settings_env):
    client = settings_env(KUBEINIT_OPTION_DEFAULTS='{"weave_version": "2.9.0", "encrypt_network": "0"}')
    rows = {row["name"]: row for row in client.get("/options").json()["options"]}
    assert rows["weave_version"]["default"] == "2.9.0" and rows["encrypt_network"]["default"] == "0"
    assert rows["kubernetes_version"]["default"] == "1.37"
    page = client.get("/").text
    assert '<option selected>2.9.0</option>' in page
    assert not re.search(r'id="opt-encrypt_network"[^>]*checked', page)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("IMAGE_REGISTRY_MIRRORS", '{"https://docker.io": "m.example.com"}', "is not a registry host"),
    ("IMAGE_REGISTRY_MIRRORS", '{"docker.io": "m.example.com/x y"}', "is not a registry host with an optional path"),
    ("IMAGE_REGISTRY_MIRRORS", '{"docker.io": "m.example.com/$(reboot)"}', "is not a registry host with an optional path"),
    ("OPTION_DEFAULTS", '{"kubernetes_versoin": "1.36"}', "did you mean kubernetes_version"),
    ("OPTION_DEFAULTS", '{"kubernetes_version": "1.20"}', "'1.20' is not one of 1.35, 1.36, 1.37"),
])
def test_bad_fleet_settings_are_refused_by_name(monkeypatch, name, value, message):
    monkeypatch.setenv(f"KUBEINIT_{name}", value)
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings()


def test_bad_settings_make_the_pod_unready_not_dead(settings_env):
    client = settings_env(KUBEINIT_PUBLIC_URLS="https://x.example.com")
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "KUBEINIT_PUBLIC_URLS: unknown setting (did you mean KUBEINIT_PUBLIC_URL?)" in response.text
