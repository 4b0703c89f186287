"""The kubeadm config the installer writes, checked against the published configuration API reference.

The field names below were read from the Kubernetes reference pages (kubernetes/website sources):
- https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/
  (content/en/docs/reference/config-api/kubeadm-config.v1beta4.md: InitConfiguration, APIEndpoint,
  NodeRegistrationOptions, ClusterConfiguration, Networking, APIServer, ControlPlaneComponent)
- https://kubernetes.io/docs/reference/config-api/kubelet-config.v1beta1/ (KubeletConfiguration)
- https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/ (KubeProxyConfiguration)
Each set lists every field of its type that the reference documents (the kubelet and kube-proxy
sets: the ones this installer may use, all present in the reference), so a misspelt or invented
field fails here instead of being ignored, or rejected, by kubeadm on a real host.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from tests.support import render_script, run_bash, with_body
from tests.support.cluster import control_plane
from tests.support.rootfs import CLUSTER, TOKEN_GENERATED

API_ENDPOINT = {"advertiseAddress", "bindPort"}
NODE_REGISTRATION = {"name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors",
                     "imagePullPolicy", "imagePullSerial"}
CONTROL_PLANE_COMPONENT = {"extraArgs", "extraVolumes", "extraEnvs"}
NETWORKING = {"serviceSubnet", "podSubnet", "dnsDomain"}
# Which fields each kind allows; a nested dict describes the fields of a sub-object.
SCHEMA: dict[tuple[str, str], dict[str, Any]] = {
    ("kubeadm.k8s.io/v1beta4", "InitConfiguration"): {
        "bootstrapTokens": None, "dryRun": None, "nodeRegistration": NODE_REGISTRATION,
        "localAPIEndpoint": API_ENDPOINT, "certificateKey": None, "skipPhases": None, "patches": None,
        "timeouts": None,
    },
    ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"): {
        "etcd": None, "networking": NETWORKING, "kubernetesVersion": None, "controlPlaneEndpoint": None,
        "apiServer": CONTROL_PLANE_COMPONENT | {"certSANs"}, "controllerManager": CONTROL_PLANE_COMPONENT,
        "scheduler": CONTROL_PLANE_COMPONENT, "dns": None, "proxy": None, "certificatesDir": None,
        "imageRepository": None, "featureGates": None, "clusterName": None, "encryptionAlgorithm": None,
        "certificateValidityPeriod": None, "caCertificateValidityPeriod": None,
    },
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"): {
        "cgroupDriver": None, "clusterDNS": None, "clusterDomain": None, "cgroupsPerQOS": None,
        "cpuManagerPolicy": None, "streamingConnectionIdleTimeout": None,
    },
    ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"): {
        "mode": None, "iptables": None, "ipvs": None, "oomScoreAdj": None, "portRange": None,
    },
}


def kubeadm_config(*flags: str, **query: str) -> list[dict[str, Any]]:
    """What kubeadm_config prints in the rendered script, for these options (no root, no host change)."""
    script = render_script(**query)
    result = run_bash(with_body(script, 'args_parse "$@"\nkubeadm_config 192.0.2.10 v1.37.3'), *flags)
    assert result.returncode == 0, result.stderr
    return list(yaml.safe_load_all(result.stdout))


def unknown_fields(document: dict[str, Any], allowed: dict[str, Any] | set[str], path: str = "") -> list[str]:
    problems = []
    for key, value in document.items():
        if key in ("apiVersion", "kind") and not path:
            continue
        if key not in allowed:
            problems.append(f"{path}{key}")
        elif isinstance(allowed, dict) and isinstance(allowed[key], (set, dict)) and isinstance(value, dict):
            problems += unknown_fields(value, allowed[key], f"{path}{key}.")
    return problems


@pytest.mark.parametrize("query", [{}, {"public_address": "k8s.example.com", "kube_proxy_mode": "ipvs",
                                        "nodelocal_dnscache": "1", "private_address": "10.1.2.3"}])
def test_documents_and_fields_are_those_of_the_reference(query: dict[str, str]) -> None:
    documents = kubeadm_config(**query)
    kinds = [(d["apiVersion"], d["kind"]) for d in documents]
    assert kinds == list(SCHEMA)
    for document in documents:
        assert unknown_fields(document, SCHEMA[(document["apiVersion"], document["kind"])]) == []


def test_values_follow_the_options() -> None:
    docs = {d["kind"]: d for d in kubeadm_config("cluster-domain=corp.internal", pod_cidr="10.244.0.0/16",
                                                 service_cidr="10.100.0.0/16", public_address="203.0.113.7")}
    assert docs["InitConfiguration"]["localAPIEndpoint"] == {"advertiseAddress": "192.0.2.10", "bindPort": 6443}
    assert docs["InitConfiguration"]["nodeRegistration"] == {
        "criSocket": "unix:///run/containerd/containerd.sock",
        "kubeletExtraArgs": [{"name": "node-ip", "value": "192.0.2.10"}], "taints": []}
    assert docs["ClusterConfiguration"]["kubernetesVersion"] == "v1.37.3"
    assert docs["ClusterConfiguration"]["networking"] == {
        "podSubnet": "10.244.0.0/16", "serviceSubnet": "10.100.0.0/16", "dnsDomain": "corp.internal"}
    assert docs["ClusterConfiguration"]["apiServer"] == {"certSANs": ["203.0.113.7"]}
    assert docs["KubeletConfiguration"] == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd", "clusterDNS": ["10.100.0.10"], "clusterDomain": "corp.internal"}
    assert docs["KubeProxyConfiguration"]["mode"] == "iptables"


def test_no_certificate_sans_without_a_public_address() -> None:
    docs = {d["kind"]: d for d in kubeadm_config()}
    assert "apiServer" not in docs["ClusterConfiguration"]


def test_a_dns_name_that_yaml_would_read_as_a_boolean_stays_a_string() -> None:
    docs = {d["kind"]: d for d in kubeadm_config(public_address="yes")}
    assert docs["ClusterConfiguration"]["apiServer"]["certSANs"] == ["yes"]


@pytest.mark.parametrize("mode", ["iptables", "ipvs", "nftables"])
def test_kubelet_starts_on_kube_dns_in_every_mode_and_the_cache_comes_later(mode) -> None:
    # issue #13 defect 4: the cache's address at init left pods without DNS when its rollout failed;
    # nodelocaldns_apply points the kubelets at it once it is ready (tests/lib/test_network.py).
    docs = {d["kind"]: d for d in kubeadm_config(nodelocal_dnscache="1", kube_proxy_mode=mode)}
    assert docs["KubeletConfiguration"]["clusterDNS"] == ["10.96.0.10"]
    assert docs["KubeProxyConfiguration"]["mode"] == mode


def test_component_config_values_are_of_the_documented_types() -> None:
    docs = {d["kind"]: d for d in kubeadm_config(kube_proxy_mode="ipvs")}
    kubelet, proxy = docs["KubeletConfiguration"], docs["KubeProxyConfiguration"]
    assert kubelet["cgroupDriver"] in ("systemd", "cgroupfs")  # "cgroupfs or systemd"
    assert isinstance(kubelet["clusterDNS"], list) and all(isinstance(a, str) for a in kubelet["clusterDNS"])
    assert isinstance(kubelet["clusterDomain"], str)
    assert proxy["mode"] in ("iptables", "ipvs", "nftables", "kernelspace")  # ProxyMode values


# v1beta4 made kubeletExtraArgs a list of name/value pairs (the reference's Arg type:
# https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/#kubeadm-k8s-io-v1beta4-Arg);
# the kubelet's node-ip is the advertised address, so a multi-NIC host registers the address it advertises.
def test_the_kubelet_registers_the_advertised_address_as_its_node_ip() -> None:
    docs = {d["kind"]: d for d in kubeadm_config(private_address="10.1.2.3")}
    registration = docs["InitConfiguration"]["nodeRegistration"]
    assert registration["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.0.2.10"}]
    assert all(set(arg) == {"name", "value"} for arg in registration["kubeletExtraArgs"])


def test_the_control_plane_is_schedulable_unless_the_taint_is_kept() -> None:
    # taints: [] is the reference's way to register a control plane without its NoSchedule taint.
    assert {d["kind"]: d for d in kubeadm_config()}["InitConfiguration"]["nodeRegistration"]["taints"] == []
    kept = {d["kind"]: d for d in kubeadm_config("control-plane-taint")}
    assert "taints" not in kept["InitConfiguration"]["nodeRegistration"]  # kubeadm's default taint


@pytest.mark.parametrize(("query", "endpoint", "sans"), [
    ({"control_plane_endpoint": "lb.example.com"}, "lb.example.com:6443", ["lb.example.com"]),
    ({"control_plane_endpoint": "10.0.0.100:8443", "public_address": "k8s.example.com"}, "10.0.0.100:8443",
     ["10.0.0.100", "k8s.example.com"]),
    ({"ha_vip": "10.0.0.100"}, "10.0.0.100:6443", ["10.0.0.100"]),
], ids=["name", "address-port-public", "vip"])
def test_the_control_plane_endpoint_is_kubeadms_and_a_certificate_san(query, endpoint, sans) -> None:
    cluster = {d["kind"]: d for d in kubeadm_config(**query)}["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == endpoint
    assert cluster["apiServer"]["certSANs"] == sans


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_no_address_stops_the_run_before_kubeadm_init(tmp_path) -> None:
    """#12 item 1: kubeadm_address's die was lost inside $(kubeadm_config "$(kubeadm_address)" ...)."""
    from tests.support.rootfs import Machine

    host = Machine(tmp_path)
    # A host without a default route: `ip route get` finds nothing (ip's own message, exit 2).
    host.write("/usr/local/sbin/ip", '#!/bin/sh\ncase "$*" in *"route get"*) echo "RTNETLINK answers: Network is '
               'unreachable" >&2; exit 2 ;; esac\nexec /usr/sbin/ip "$@"\n', 0o755)
    result = host.run(render_script())
    assert result.returncode == 1
    assert "cannot find this host's address (no IPv4 default route): give private-address=IPV4" in result.stderr
    assert not [c for c in host.commands() if c.startswith("kubeadm init")]
    assert not host.exists("/etc/kubeinit/kubeadm.yaml")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_failed_init_is_found_on_the_next_run_and_reset_makes_it_retryable(tmp_path) -> None:
    """#12 item 10: kubeadm writes admin.conf before the control plane is up; a failed init must not
    pass for a running cluster."""
    from tests.support.rootfs import Machine

    host = Machine(tmp_path)
    host.write(f"{CLUSTER}/kubeadm-init-fails", "")
    first = host.run(render_script())
    assert first.returncode == 1 and "kubeadm init failed" in first.stderr
    assert host.exists("/etc/kubernetes/admin.conf")  # as the real kubeadm leaves it
    host.path(f"{CLUSTER}/kubeadm-init-fails").unlink()
    second = host.run(render_script())
    assert second.returncode == 1
    assert "a previous 'kubeadm init' did not finish" in second.stderr and "'reset yes'" in second.stderr
    assert not [c for c in host.commands() if c.startswith("kubectl get nodes")]  # no 2-minute wait for nothing
    assert host.run(render_script(), "reset", "yes").returncode == 0
    third = host.run(render_script())
    assert third.returncode == 0, third.stderr
    assert sum(c.startswith("kubeadm init") for c in host.commands()) == 2
    assert host.exists("/etc/kubeinit/initialised")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_cluster_made_before_the_marker_counts_when_its_api_server_answers(tmp_path) -> None:
    host, _ = control_plane(tmp_path)
    host.path("/etc/kubeinit/initialised").unlink()  # as an older installer left it
    again = host.run(render_script(kubernetes_version="1.36"))
    assert again.returncode == 0, again.stderr
    assert "this host runs a cluster already" in again.stderr
    assert sum(c.startswith("kubeadm init") for c in host.commands()) == 1


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_one_join_token_per_run(tmp_path) -> None:
    """#12 item 12: kubeadm init's own token is the one printed; kubeadm prints none itself."""
    host, first = control_plane(tmp_path)
    commands = host.commands()
    assert sum(c.startswith(("kubeadm token generate", "kubeadm token create")) for c in commands) == 1
    assert "--skip-token-print" in next(c for c in commands if c.startswith("kubeadm init"))
    assert first.stdout.count(f"token={TOKEN_GENERATED}") == 1
    assert "--token <value withheld>" in first.stdout  # kubeadm's own join line shows none
    again = host.run(render_script(kubernetes_version="1.36"))
    assert sum(c.startswith(("kubeadm token generate", "kubeadm token create")) for c in host.commands()) == 2
    assert "token=abcdef.0123456789abcdef" in again.stdout  # a re-run: one fresh token


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_summary_says_whether_workloads_run_on_the_control_plane(tmp_path) -> None:
    _, result = control_plane(tmp_path)
    assert "control-plane hosts run workloads too (no control-plane taint)" in result.stderr
    kept, result = control_plane(tmp_path / "kept", control_plane_taint="1")
    assert "control-plane hosts keep their NoSchedule taint" in result.stderr
    assert "taints" not in kept.read("/etc/kubeinit/kubeadm.yaml")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_an_init_output_without_a_join_line_falls_back_to_a_fresh_token(tmp_path) -> None:
    from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

    quiet = DEFAULT_BEHAVIOUR["kubeadm"].replace('sed -e "$cp"', 'sed -n -e "$cp"')  # prints nothing
    host = Machine(tmp_path, behaviour={"kubeadm": quiet})
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert "kubeadm token create --print-join-command --ttl 24h" in host.commands()
    assert "\ntoken=abcdef.0123456789abcdef\nca-cert-hash=sha256:" in result.stdout


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_marker_without_admin_conf_is_no_cluster(tmp_path) -> None:
    host, _ = control_plane(tmp_path)
    assert host.run(render_script(kubernetes_version="1.36"), "reset", "yes").returncode == 0
    host.write("/etc/kubeinit/initialised", "kubeadm init finished\n")  # left by a hand-made 'kubeadm reset'
    again = host.run(render_script(kubernetes_version="1.36"))
    assert again.returncode == 0, again.stderr
    assert sum(c.startswith("kubeadm init") for c in host.commands()) == 2
