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


# A kubelet's /configz through the API server's node proxy: its running KubeletConfiguration (v1beta1 field
# names) under "kubeletconfig", as cmd/kubelet/app/server.go initConfigz registers it with
# k8s.io/component-base/configz, which serves every registered config as one JSON object.
CONFIGZ = ('{"kubeletconfig":{"enableServer":true,"staticPodPath":"/etc/kubernetes/manifests","cgroupDriver":"systemd",'
           '"clusterDomain":"cluster.local","clusterDNS":["%s"],"resolvConf":"/run/systemd/resolve/resolv.conf"}}')


def troubleshoot_cluster(tmp_path, nodes: dict[str, str | None]) -> dict[str, str]:
    """PATH with a kubectl answering as an ipvs cluster with the cache ready on every node, whose kubelets run
    with the clusterDNS of NODES (None: the kubelet does not answer, as kubectl's proxy error)."""
    stub = tmp_path / "bin"
    stub.mkdir()
    cases = "".join(
        f'  *"/api/v1/nodes/{n}/proxy/configz"*) printf \'%s\\n\' \'{CONFIGZ % dns}\' ;;\n' if dns else
        f'  *"/api/v1/nodes/{n}/proxy/configz"*) echo \'Error from server (ServiceUnavailable): the server is currently unable to handle the request\' >&2; exit 1 ;;\n'
        for n, dns in nodes.items())
    (stub / "kubectl").write_text(f"""#!/bin/sh
case "$*" in
  *"get daemonset node-local-dns"*) echo "{len(nodes)} {len(nodes)}" ;;
  *"configmap kube-proxy"*) printf 'mode: "ipvs"\\n' ;;
  *"get pods"*) echo "NAME READY" ;;
  *"get nodes"*) printf '%s\\n' {" ".join(nodes)} ;;
{cases}  *) exit 1 ;;
esac
""")
    (stub / "kubectl").chmod(0o755)
    return {"PATH": f"{stub}:/usr/bin:/bin"}


def test_troubleshoot_names_each_node_whose_kubelet_bypasses_the_cache(tmp_path) -> None:
    # issue #26: ipvs/nftables mode switched only the kubelet-config ConfigMap and the control plane; workers
    # that had joined kept kube-dns. troubleshoot says so per node, with the command for each.
    env = troubleshoot_cluster(tmp_path, {"cp1": "169.254.20.10", "worker1": "10.96.0.10", "worker2": None})
    result = call(render_script("scripts/kubernetes-troubleshoot.sh.j2"), "troubleshoot_nodelocaldns", env=env)
    assert result.returncode == 1
    out = result.stdout
    assert "  cp1: clusterDNS 169.254.20.10, the cache\n" in out
    assert ("  worker1: clusterDNS 10.96.0.10: its pods bypass the cache. On worker1 run: "
            "sudo kubeadm upgrade node phase kubelet-config && sudo systemctl restart kubelet\n") in out
    assert "  worker2: clusterDNS unknown (its kubelet did not answer: kubectl get --raw /api/v1/nodes/worker2/proxy/configz)" in out


def test_troubleshoot_passes_when_every_kubelet_points_at_the_cache(tmp_path) -> None:
    env = troubleshoot_cluster(tmp_path, {"cp1": "169.254.20.10", "worker1": "169.254.20.10"})
    result = call(render_script("scripts/kubernetes-troubleshoot.sh.j2"), "troubleshoot_nodelocaldns", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  worker1: clusterDNS 169.254.20.10, the cache\n" in result.stdout
