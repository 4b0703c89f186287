"""NodeLocal DNSCache's manifest per kube-proxy mode, and the kubelet configuration edits of the
clusterDNS switch (the switch itself, after the rollout, runs end to end in test_network.py)."""

from __future__ import annotations

import pytest
import yaml

from tests.support import render_script
from tests.support.network import call, container


@pytest.fixture(scope="module")
def script() -> str:
    return render_script(nodelocal_dnscache="1")


@pytest.mark.parametrize(("mode", "localip"), [
    ("iptables", "169.254.20.10,10.96.0.10"),
    ("ipvs", "169.254.20.10"),
    ("nftables", "169.254.20.10"),  # kube-proxy's nftables DNAT keeps the kube-dns address (kubernetes/dns#682)
])
def test_the_cache_takes_over_the_kube_dns_address_only_in_iptables_mode(script, mode: str, localip: str) -> None:
    result = call(script, "nodelocaldns_manifest", mode, "10.96.0.10")
    assert result.returncode == 0, result.stderr
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(result.stdout) if o}
    args = container(objects["DaemonSet", "node-local-dns"], "node-cache")["args"]
    assert args[args.index("-localip") + 1] == localip
    corefile = objects["ConfigMap", "node-local-dns"]["data"]["Corefile"]
    if mode == "iptables":
        assert "bind 169.254.20.10 10.96.0.10" in corefile and "__PILLAR__CLUSTER__DNS__" in corefile
    else:
        assert "bind 169.254.20.10\n" in corefile and "forward . 10.96.0.10 {" in corefile


KUBELET_BLOCK = "apiVersion: kubelet.config.k8s.io/v1beta1\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\n"
KUBELET_FLOW = "apiVersion: kubelet.config.k8s.io/v1beta1\nclusterDNS: [\"10.96.0.10\"]\nclusterDomain: cluster.local\n"


@pytest.mark.parametrize("config", [KUBELET_BLOCK, KUBELET_FLOW], ids=["block-list", "flow-list"])
def test_cluster_dns_is_read_and_rewritten_in_either_yaml_list_style(script, config: str) -> None:
    assert call(script, "eval", f"nodelocaldns_dns_of <<'EOF'\n{config}EOF").stdout == "10.96.0.10\n"
    rewritten = call(script, "eval", f"nodelocaldns_cluster_dns 169.254.20.10 <<'EOF'\n{config}EOF").stdout
    assert yaml.safe_load(rewritten) == {**yaml.safe_load(config), "clusterDNS": ["169.254.20.10"]}
