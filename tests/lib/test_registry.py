"""Registry mirrors on the hosts (templates/lib/registry.sh.j2): containerd's certs.d/<registry>/hosts.toml
(format: https://github.com/containerd/containerd/blob/main/docs/hosts.md) from the service's
KUBEINIT_IMAGE_REGISTRY_MIRRORS (the same setting that rewrites the image names) and the
registry-mirror option, with the mirrors' private CA; run end to end in the fake host."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from app.params import OptionError, parse_pairs
from tests.support import render_script

MIRRORS = {"docker.io": "mirror.example.com/dockerhub", "registry.k8s.io": "mirror.example.com/k8s"}
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")


def hosts_toml(host, registry: str) -> dict:
    return tomllib.loads(host.read(f"/etc/containerd/certs.d/{registry}/hosts.toml"))


@pytest.mark.parametrize("raw", ["dockerhub=mirror.example.com", "docker.io=mirror", "docker.io=https://m.example.com",
                                 "docker.io=mirror.example.com/x y", "docker.io"])
def test_a_mirror_that_is_not_a_registry_host_is_refused(raw: str) -> None:
    with pytest.raises(OptionError) as error:
        parse_pairs([("registry_mirror", raw)])
    assert error.value.problems[0][0] == "registry_mirror"
    assert "is not REGISTRY=MIRROR[,...] of registry hosts" in error.value.problems[0][1]


def test_the_service_setting_rewrites_images_and_reaches_the_script_as_one_map(settings_env) -> None:
    client = settings_env(KUBEINIT_IMAGE_REGISTRY_MIRRORS=json.dumps(MIRRORS))
    body = client.get("/kubernetes-init?nodelocal_dnscache=1").text
    assert "NODELOCALDNS_IMAGE=mirror.example.com/k8s/dns/k8s-dns-node-cache:" in body
    assert "KUBEINIT_REGISTRY_MIRRORS=docker.io=mirror.example.com/dockerhub,registry.k8s.io=mirror.example.com/k8s" in body
    join = client.get("/kubernetes-node-join").text  # joining hosts configure containerd the same way
    assert "KUBEINIT_REGISTRY_MIRRORS=docker.io=mirror.example.com/dockerhub,registry.k8s.io=mirror.example.com/k8s" in join


@pytest.mark.rootfs
@needs_root
def test_hosts_toml_per_registry_from_the_setting_and_the_option_with_the_ca(settings_env, tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    script = settings_env(KUBEINIT_IMAGE_REGISTRY_MIRRORS=json.dumps(MIRRORS)).get("/kubernetes-init").text
    host = Machine(tmp_path)
    host.write("/etc/ssl/mirror-ca.pem", CA)
    result = host.run(script, "registry-mirror=quay.io=quay-cache.example.com:5000,registry.k8s.io=k8s.example.org",
                      "registry-mirror-ca=/etc/ssl/mirror-ca.pem")
    assert result.returncode == 0, result.stderr
    assert "preflight pass:    registry-mirror-ca: /etc/ssl/mirror-ca.pem" in result.stderr
    assert hosts_toml(host, "docker.io") == {
        "server": "https://registry-1.docker.io",
        "host": {"https://mirror.example.com/v2/dockerhub": {
            "capabilities": ["pull", "resolve"], "override_path": True, "ca": "/etc/ssl/mirror-ca.pem"}},
    }
    assert hosts_toml(host, "registry.k8s.io")["host"] == {  # the option wins over the service's setting
        "https://k8s.example.org": {"capabilities": ["pull", "resolve"], "ca": "/etc/ssl/mirror-ca.pem"}}
    assert hosts_toml(host, "quay.io")["host"] == {
        "https://quay-cache.example.com:5000": {"capabilities": ["pull", "resolve"], "ca": "/etc/ssl/mirror-ca.pem"}}
    # images the service renamed after the mirror are pulled from it directly: it gets the CA too
    assert hosts_toml(host, "mirror.example.com") == {"server": "https://mirror.example.com", "ca": "/etc/ssl/mirror-ca.pem"}

    again = host.run(script)  # without the option, its registries go; the service's stay
    assert again.returncode == 0, again.stderr
    assert not host.exists("/etc/containerd/certs.d/quay.io/hosts.toml")
    assert hosts_toml(host, "registry.k8s.io")["host"] == {
        "https://mirror.example.com/v2/k8s": {"capabilities": ["pull", "resolve"], "override_path": True}}

    reset = host.run(script, "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert not host.exists("/etc/containerd/certs.d/docker.io/hosts.toml")
    assert not host.exists("/etc/containerd/certs.d/registry.k8s.io/hosts.toml")


@pytest.mark.rootfs
@needs_root
def test_bad_mirror_flag_or_missing_ca_stops_before_any_change(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    host = Machine(tmp_path)
    result = host.run(render_script(), "registry-mirror=dockerhub=mirror.example.com")
    assert result.returncode == 1
    assert "kubeinit: registry-mirror: 'dockerhub=mirror.example.com' is not REGISTRY=MIRROR[,...]" in result.stderr
    result = host.run(render_script(), "registry-mirror=docker.io=mirror.example.com", "registry-mirror-ca=/etc/ssl/none.pem")
    assert result.returncode == 1
    assert "preflight FAIL:    registry-mirror-ca: /etc/ssl/none.pem is not a PEM certificate file on this host" in result.stderr
    assert host.changes() == {}



@pytest.mark.parametrize("mirror", ["mirror", "mirror/dockerhub", "https://mirror.example.com"])
def test_the_service_setting_refuses_a_mirror_that_is_not_a_registry_host(mirror: str) -> None:
    from pydantic import ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="is not a registry host with an optional path"):
        Settings(image_registry_mirrors={"docker.io": mirror})
