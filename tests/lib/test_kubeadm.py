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

from typing import Any

import pytest
import yaml

from tests.support import render_script, run_bash

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
    functions = script.rsplit("{ main", 1)[0]  # everything but the last line, which would run main
    result = run_bash(functions + 'args_parse "$@"\nkubeadm_config 192.0.2.10 v1.37.3\n', *flags)
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
    assert docs["InitConfiguration"]["nodeRegistration"] == {"criSocket": "unix:///run/containerd/containerd.sock"}
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
