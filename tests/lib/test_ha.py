"""A highly available control plane: control_plane_endpoint and ha_vip in the option model, and
kube-vip as a static pod following its kubeadm procedure (https://kube-vip.io/docs/installation/static/),
with super-admin.conf during the first init (kube-vip/kube-vip#684)."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.params import KUBERNETES_MINORS, OptionError, parse_pairs
from tests.support import render_script, run_bash, with_body
from tests.support.cluster import JOIN, control_plane, in_order, join_flags, since
from tests.support.rootfs import DEFAULT_BEHAVIOUR, UPLOADED_KEY, Machine



def kube_vip(kubeconfig: str = "/etc/kubernetes/admin.conf", **query: str) -> dict:
    script = with_body(render_script(**{"ha_vip": "10.0.0.100", **query}), f'args_parse "$@"\nha_vip_manifest {kubeconfig} eth1')
    result = run_bash(script)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("minor", KUBERNETES_MINORS)
def test_the_kube_vip_pod_is_valid_for_every_supported_minor(minor: str) -> None:
    kubernetes_validate.validate(kube_vip(), minor, strict=True)


def test_the_kube_vip_pod_announces_the_vip_by_arp_on_the_hosts_interface() -> None:
    pod = kube_vip(control_plane_endpoint="10.0.0.100:6443")
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["address"] == "10.0.0.100" and env["port"] == "6443" and env["vip_interface"] == "eth1"
    assert env["vip_arp"] == "true" and env["cp_enable"] == "true" and env["vip_leaderelection"] == "true"
    assert container["image"] == "ghcr.io/kube-vip/kube-vip:v1.0.0@sha256:4f256554a83a6d824ea9c5307450a2c3fd132e09c52b339326f94fefaf67155c"
    assert pod["spec"]["hostNetwork"] is True
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"


def test_the_kube_vip_image_follows_the_registry_mirrors(settings_env) -> None:
    client = settings_env(KUBEINIT_IMAGE_REGISTRY_MIRRORS='{"ghcr.io": "mirror.example.com/ghcr"}')
    body = client.get("/kubernetes-init", params={"ha_vip": "10.0.0.100"}).text
    assert "KUBE_VIP_IMAGE=mirror.example.com/ghcr/kube-vip/kube-vip:v1.0.0@sha256:4f256554a83a6d824ea9c5307450a2c3fd132e09c52b339326f94fefaf67155c" in body


def test_an_endpoint_other_than_the_vip_is_refused_by_query_and_by_flag() -> None:
    with pytest.raises(OptionError, match="control_plane_endpoint: lb.example.com is not ha_vip's address 10.0.0.100"):
        parse_pairs([("ha_vip", "10.0.0.100"), ("control_plane_endpoint", "lb.example.com")])
    result = run_bash(render_script(ha_vip="10.0.0.100"), "control-plane-endpoint=lb.example.com", "dry-run")
    assert result.returncode == 1
    assert "kubeinit: control-plane-endpoint: lb.example.com is not ha_vip's address 10.0.0.100" in result.stderr
    assert parse_pairs([("ha_vip", "10.0.0.100"), ("control_plane_endpoint", "10.0.0.100:6443")]).ha_vip


def test_a_vip_on_another_port_than_the_api_servers_is_refused_by_query_and_by_flag() -> None:
    from fastapi.testclient import TestClient

    from app.main import app

    # kube-vip in ARP mode forwards nothing and takes its lease through 127.0.0.1:port (pkg/manager/manager.go New):
    # on VIP:8443 neither kubeadm init's first call through admin.conf nor kube-vip's lease would find an API server.
    reason = "10.0.0.100:8443 has a port other than 6443, which ha_vip cannot serve: the API servers listen on 6443"
    answer = TestClient(app).get("/kubernetes-init", params={"ha_vip": "10.0.0.100", "control_plane_endpoint": "10.0.0.100:8443"})
    assert answer.status_code == 400
    refusal = run_bash(answer.text)
    assert refusal.returncode == 1 and f"kubeinit: control_plane_endpoint: {reason}" in refusal.stderr
    result = run_bash(render_script(ha_vip="10.0.0.100"), "control-plane-endpoint=10.0.0.100:8443", "dry-run")
    assert result.returncode == 1
    assert f"kubeinit: control-plane-endpoint: {reason}" in result.stderr
    assert run_bash(render_script(ha_vip="10.0.0.100"), "control-plane-endpoint=10.0.0.100:6443", "dry-run").returncode == 0


@pytest.mark.parametrize("value", ["lb.example.com:99999", "LB.example.com", "10.0.0.1:", "https://lb"])
def test_a_bad_endpoint_is_refused_with_its_reason(value: str) -> None:
    with pytest.raises(OptionError, match="is not HOST\\[:PORT\\]"):
        parse_pairs([("control_plane_endpoint", value)])
    result = run_bash(render_script(), f"control-plane-endpoint={value}", "dry-run")
    assert result.returncode == 1 and "is not HOST[:PORT]" in result.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_first_init_runs_kube_vip_with_super_admin_conf_then_admin_conf(tmp_path: Path) -> None:
    # kubeadm keeps what the kubelet would start while it initialises: the kube-vip pod's kubeconfig.
    behaviour = {"kubeadm": 'case $1 in init) cp /etc/kubernetes/manifests/kube-vip.yaml /vip-during-init ;; esac\n'
                            + DEFAULT_BEHAVIOUR["kubeadm"]}
    host = Machine(tmp_path, behaviour=behaviour)
    result = host.run(render_script(ha_vip="10.0.0.100"))
    assert result.returncode == 0, result.stderr
    during = yaml.safe_load(host.read("/vip-during-init"))
    after = yaml.safe_load(host.read("/etc/kubernetes/manifests/kube-vip.yaml"))
    assert during["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/super-admin.conf"
    assert after["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"
    assert {e["name"]: e.get("value") for e in after["spec"]["containers"][0]["env"]}["vip_interface"] == "lo"
    assert 'controlPlaneEndpoint: "10.0.0.100:6443"' in host.read("/etc/kubeinit/kubeadm.yaml")
    init = next(c for c in host.commands() if c.startswith("kubeadm init"))
    assert "--upload-certs" in init and "--skip-certificate-key-print" in init
    assert "\ncontrol-plane\ncertificate-key=" in result.stdout and "ha_vip=10.0.0.100" in result.stdout


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_joined_control_plane_runs_kube_vip_after_kubeadm_join(tmp_path: Path) -> None:
    behaviour = {"kubeadm": 'case $1 in join) [ ! -e /etc/kubernetes/manifests/kube-vip.yaml ] || '
                            'touch /vip-before-join ;; esac\n' + DEFAULT_BEHAVIOUR["kubeadm"]}
    host = Machine(tmp_path, behaviour=behaviour)
    result = host.run(render_script(JOIN, ha_vip="10.0.0.100"), *join_flags(api="10.0.0.100"), "control-plane",
                      f"certificate-key={UPLOADED_KEY}")
    assert result.returncode == 0, result.stderr
    assert not host.exists("/vip-before-join")  # kubeadm join's preflight wants the manifest directory empty
    pod = yaml.safe_load(host.read("/etc/kubernetes/manifests/kube-vip.yaml"))
    assert pod["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_rerun_prints_a_fresh_certificate_key_from_upload_certs(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path, control_plane_endpoint="lb.example.com")
    again = host.run(render_script(kubernetes_version="1.36", control_plane_endpoint="lb.example.com"))
    assert again.returncode == 0, again.stderr
    assert "kubeadm init phase upload-certs --upload-certs" in host.commands()
    assert f"\ncontrol-plane\ncertificate-key={UPLOADED_KEY}\n" in again.stdout
    assert "The certificate key expires in 2 hours" in again.stdout


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_rerun_after_an_init_interrupted_before_the_switch_gives_kube_vip_admin_conf(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path, ha_vip="10.0.0.5")
    manifest = "/etc/kubernetes/manifests/kube-vip.yaml"
    host.write(manifest, host.read(manifest).replace("/etc/kubernetes/admin.conf\n        type",
                                                      "/etc/kubernetes/super-admin.conf\n        type"))
    host.path("/etc/kubeinit/initialised").unlink()  # the run stopped right after kubeadm init
    again = host.run(render_script(kubernetes_version="1.36", ha_vip="10.0.0.5"))
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(host.read(manifest))["spec"]["volumes"][0]["hostPath"]["path"] == "/etc/kubernetes/admin.conf"


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_an_even_number_of_control_planes_is_warned_about(tmp_path: Path) -> None:
    from tests.support.cluster import add_nodes

    host, first = control_plane(tmp_path, control_plane_endpoint="lb.example.com")
    assert "control-plane hosts: an even number" not in first.stderr
    add_nodes(host, "cp2 control-plane True v1.36.3")
    again = host.run(render_script(kubernetes_version="1.36", control_plane_endpoint="lb.example.com"))
    assert "2 control-plane hosts: an even number tolerates no more failures than one fewer" in again.stderr


KUBE_VIP_STOP = "crictl ps -q --name ^kube-vip$ --namespace ^kube-system$"


def kube_vip_stops(host) -> list[str]:
    """The kube-vip containers crictl stopped (the kubelet started each again with the admin.conf of then)."""
    return [line for line in (host.read("/var/lib/kubeinit-stubs/crictl-stopped") or "").splitlines() if line.endswith(" kube-vip")]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_renew_certs_restarts_kube_vip_so_it_loads_the_new_admin_conf(tmp_path: Path) -> None:
    # kube-vip reads admin.conf once (pkg/manager/manager.go New): without a restart it keeps the old client
    # certificate, and loses its lease when that one expires (aws/eks-anywhere#5219).
    host, _ = control_plane(tmp_path, ha_vip="10.0.0.100")
    start = len(host.calls())
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    assert in_order(commands, ["kubeadm certs renew all", KUBE_VIP_STOP, "crictl stop "]) == []
    assert len(kube_vip_stops(host)) == 1 and "kube-vip restarted" in result.stderr
    # only kube-vip: crictl's --name is a regular expression, and the others came back through their manifests
    assert [c for c in commands if c.startswith("crictl stop")] == [f"crictl stop {kube_vip_stops(host)[0].split()[0]}"]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_upgrade_restarts_kube_vip_after_kubeadm_upgrade_apply(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path, ha_vip="10.0.0.100")
    start = len(host.calls())
    result = host.run(render_script(kubernetes_version="1.37", ha_vip="10.0.0.100"), "upgrade")
    assert result.returncode == 0, result.stderr
    assert in_order(since(host, start), ["kubeadm upgrade apply v1.37.3 --yes", KUBE_VIP_STOP, "crictl stop "]) == []
    assert len(kube_vip_stops(host)) == 1


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_without_kube_vip_nothing_is_restarted(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    assert not [c for c in host.commands() if "kube-vip" in c or c.startswith("crictl stop")]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
@pytest.mark.parametrize("query", [{}, {"ha_vip": "10.0.0.100"}], ids=["vip-from-the-manifest", "vip-given"])
def test_reset_takes_the_vip_off_the_interface(tmp_path: Path, query: dict) -> None:
    # The leader's kube-vip held the VIP on lo (the interface with the host's address); kubeadm reset kills it
    # without its cleanup, so the address stays unless reset removes it.
    host, _ = control_plane(tmp_path, ha_vip="10.0.0.100")
    host.behave("kubeadm", 'case $1 in reset) ip addr add 10.0.0.100/32 dev lo ;; esac\n' + DEFAULT_BEHAVIOUR["kubeadm"])
    script = with_body(render_script(**query), 'main "$@"\nprintf "addresses after reset: %s\\n" "$(ip -4 -o addr show dev lo | awk \'{print $4}\' | xargs)"')
    result = host.run(script, "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert "addresses after reset: 127.0.0.1/8 10.0.0.5/24\n" in result.stdout
