"""The network part of the installer, run as root in the isolated Debian root (tests/support/rootfs.py),
against a stubbed kubectl that keeps the cluster state a real API server would (the secret, the
applied manifests, the kubelet-config ConfigMap) and answers `weave status` with real output."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.support import weave_samples as samples
from tests.support.network import container, env_of
from tests.support import render_script

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

KUBE = "/var/lib/kubeinit-stubs/kube"  # the stubbed cluster's state, inside the root
# kubectl: the calls the network part makes, answered from KUBE; anything else falls through to
# the harness's default kubectl behaviour (appended below).
NETWORK_KUBECTL = f"""K={KUBE}; mkdir -p $K
case "$*" in
  *"get secret weave-passwd"*) [ ! -e $K/secret ] || echo secret/weave-passwd; exit 0 ;;
  *"create -f -"*)
    grep -q '^kind: Secret' "$stdin_file" || exit 0
    if [ -e $K/secret ]; then echo 'Error from server (AlreadyExists): secrets "weave-passwd" already exists' >&2; exit 1; fi
    touch $K/secret; echo secret/weave-passwd created; exit 0 ;;
  *"apply -f -"*)
    if grep -q '^  name: weave-net' "$stdin_file"; then cp "$stdin_file" $K/weave.yaml; fi
    if grep -q '^  name: node-local-dns' "$stdin_file"; then cp "$stdin_file" $K/nodelocaldns.yaml; fi
    if grep -q '^  name: kubelet-config' "$stdin_file"; then sed '1,/^  kubelet: |/d; s/^    //' "$stdin_file" >$K/kubelet-config; fi
    exit 0 ;;
  *"get daemonset weave-net"*)
    [ -e $K/weave.yaml ] || exit 0
    if grep -q WEAVE_PASSWORD $K/weave.yaml; then echo "weave-net WEAVE_PASSWORD"; else echo "weave-net "; fi; exit 0 ;;
  *"get daemonset node-local-dns"*) [ ! -e $K/nodelocaldns.yaml ] || echo "1 1"; exit 0 ;;
  *"configmap kube-proxy"*) printf 'kind: KubeProxyConfiguration\\nmode: "%s"\\n' "$(cat $K/proxy-mode 2>/dev/null)"; exit 0 ;;
  *"configmap kubelet-config"*) cat $K/kubelet-config; exit 0 ;;
  *"service kube-dns"*) echo 10.96.0.10; exit 0 ;;
  *"rollout status"*) echo "daemon set successfully rolled out"; exit 0 ;;
  *"get pods -l name=weave-net"*) echo "weave-net-x7k2p node1"; exit 0 ;;
  *"get pods -l k8s-app=node-local-dns"*) echo "node-local-dns-4xq9z   1/1     Running   0          2m"; exit 0 ;;
  *"--local status connections"*) cat $K/connections; exit 0 ;;
  *"--local status"*) cat $K/status; exit 0 ;;
  *"delete pod kubeinit-dns-test"*) exit 0 ;;
  *"run kubeinit-dns-test"*) cat $K/nslookup; exit 0 ;;
esac
"""
# kubeadm's KubeletConfiguration, abridged (the kubelet-config ConfigMap and /var/lib/kubelet/config.yaml).
KUBELET_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"""
# nslookup in the dnsutils image, as in kubernetes.io "Debugging DNS Resolution".
NSLOOKUP = """\
Server:\t\t10.96.0.10
Address:\t10.96.0.10#53

Name:\tkubernetes.default.svc.cluster.local
Address: 10.96.0.1
"""


@pytest.fixture
def machine(tmp_path: Path):
    from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

    m = Machine(tmp_path, behaviour={"kubectl": NETWORK_KUBECTL + DEFAULT_BEHAVIOUR["kubectl"]})
    m.write(f"{KUBE}/status", samples.ENCRYPTED_STATUS)
    m.write(f"{KUBE}/connections", samples.SINGLE_HOST)
    m.write(f"{KUBE}/kubelet-config", KUBELET_CONFIG)
    m.write(f"{KUBE}/nslookup", NSLOOKUP)
    m.write("/var/lib/kubelet/config.yaml", KUBELET_CONFIG)
    return m


def applied(machine, kind: str, name: str) -> list[tuple[int, dict]]:
    """(call index, object) for each object of KIND/NAME sent to kubectl on stdin, in call order."""
    found = []
    for index, call in enumerate(machine.calls()):
        if call[0] == "kubectl" and "-f" in call:
            for doc in yaml.safe_load_all(machine.stubs.stdin(index)):
                if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
                    found.append((index, doc))
    return found


def secret_creations(machine) -> list[int]:
    return [i for i, call in enumerate(machine.calls()) if call[:2] == ["kubectl", "create"]]


def test_encryption_on_creates_the_secret_once_and_never_shows_the_password(machine) -> None:
    script = render_script()
    first = machine.run(script)
    assert first.returncode == 0, first.stderr
    [(index, secret)] = applied(machine, "Secret", "weave-passwd")
    password = secret["stringData"]["weave-passwd"]
    assert re.fullmatch(r"[0-9a-f]{64}", password)  # 256 bits from /dev/urandom
    [(ds_index, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert index < ds_index  # the secret exists before any weave pod looks for it
    assert env_of(daemonset, "weave")["WEAVE_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}

    second = machine.run(script)
    assert second.returncode == 0, second.stderr
    assert secret_creations(machine) == [index]  # not created, let alone rotated, again
    assert "Secret kube-system/weave-passwd exists: keeping its password" in second.stderr
    assert len(applied(machine, "DaemonSet", "weave-net")) == 2

    log = (machine.stubs.log).read_text()
    assert password not in log  # no argv of any command
    for run in (first, second):
        assert password not in run.stdout + run.stderr
    assert password not in script
    for path in machine.changes():  # nor any file the runs left (the stub's stdin record aside)
        content = machine.read(path)
        assert content is None or password not in content, path


def test_encryption_off_has_no_secret_and_no_password_and_switching_on_warns(machine) -> None:
    off = machine.run(render_script(), "encrypt-network=0")
    assert off.returncode == 0, off.stderr
    assert secret_creations(machine) == []
    assert not any("secret" in " ".join(call) for call in machine.calls())
    [(_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert "WEAVE_PASSWORD" not in env_of(daemonset, "weave")
    assert "encryption disabled" in off.stderr

    on = machine.run(render_script())  # the default: encrypted
    assert on.returncode == 0, on.stderr
    assert "Weave Net runs UNENCRYPTED on this cluster and this run turns encryption ON." in on.stderr
    assert "Peers must agree" in on.stderr
    assert len(secret_creations(machine)) == 1
    assert "runs ENCRYPTED" not in machine.run(render_script()).stderr  # agreed now: no warning


def test_the_post_install_summary_on_a_single_host(machine) -> None:
    result = machine.run(render_script())
    assert result.returncode == 0, result.stderr
    commands = machine.commands()
    control_plane = next(i for i, c in enumerate(commands) if c.startswith("kubeadm init"))
    weave = commands.index("kubectl apply -f -")
    assert control_plane < weave  # the network comes once the control plane is up
    # then the join command (with the token kubeadm init was given: no second token, #12 item 12)
    assert result.stdout.index("No peers yet") < result.stdout.index("To add a worker")
    rollout = commands.index("kubectl -n kube-system rollout status daemonset/weave-net --timeout=300s")
    status = commands.index("kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status")
    assert rollout < status
    assert "kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status connections" in commands
    assert "Weave Net encryption: enabled" in result.stdout
    assert "No peers yet: this is the only Weave Net host." in result.stdout
    assert "reports it disabled" not in result.stderr


def test_the_summary_warns_when_weave_runs_unencrypted_against_the_settings(machine) -> None:
    machine.write(f"{KUBE}/status", samples.DOCS_STATUS)  # "Encryption: disabled"
    result = machine.run(render_script())
    assert result.returncode == 0, result.stderr
    assert "this run enabled encryption but pod weave-net-x7k2p reports it disabled" in result.stderr
    assert "reports it disabled" not in machine.run(render_script(), "encrypt-network=0").stderr


def nodelocal(machine) -> dict:
    [*_, (_, configmap)] = applied(machine, "ConfigMap", "node-local-dns")
    [*_, (_, daemonset)] = applied(machine, "DaemonSet", "node-local-dns")
    return {"corefile": configmap["data"]["Corefile"], "args": container(daemonset, "node-cache")["args"]}


def test_iptables_mode_substitutes_the_kube_dns_address_and_leaves_the_kubelet_alone(machine) -> None:
    machine.write(f"{KUBE}/proxy-mode", "iptables")
    result = machine.run(render_script(nodelocal_dnscache="1"))
    assert result.returncode == 0, result.stderr
    dns = nodelocal(machine)
    assert dns["args"][:2] == ["-localip", "169.254.20.10,10.96.0.10"]
    assert "bind 169.254.20.10 10.96.0.10" in dns["corefile"]
    assert "cluster.local:53 {" in dns["corefile"]
    assert "forward . __PILLAR__CLUSTER__DNS__ {" in dns["corefile"]  # node-cache fills it in
    assert "forward . __PILLAR__UPSTREAM__SERVERS__" in dns["corefile"]
    assert machine.read("/var/lib/kubelet/config.yaml") == KUBELET_CONFIG
    assert machine.read(f"{KUBE}/kubelet-config") == KUBELET_CONFIG
    assert "systemctl restart kubelet" not in machine.commands()
    assert "kube-proxy mode iptables, kube-dns 10.96.0.10" in result.stderr


def test_ipvs_mode_points_the_kubelets_at_the_cache_once_and_reset_reverts_it(machine) -> None:
    machine.write(f"{KUBE}/proxy-mode", "ipvs")
    script = render_script()  # kube-proxy-mode=iptables by default: the cluster's answer wins
    result = machine.run(script, "nodelocal-dnscache")
    assert result.returncode == 0, result.stderr
    dns = nodelocal(machine)
    assert dns["args"][:2] == ["-localip", "169.254.20.10"]
    assert "forward . 10.96.0.10 {" in dns["corefile"]
    assert "__PILLAR__DNS__SERVER__" not in dns["corefile"] and "__PILLAR__CLUSTER__DNS__" not in dns["corefile"]
    pointed = KUBELET_CONFIG.replace("- 10.96.0.10", "- 169.254.20.10")
    assert machine.read(f"{KUBE}/kubelet-config") == pointed  # joining hosts inherit it
    assert machine.read("/var/lib/kubelet/config.yaml") == pointed
    commands = machine.commands()
    assert commands.count("systemctl restart kubelet") == 1
    # Only once the cache answers: pods created meanwhile would otherwise get a dead resolver.
    assert commands.index("kubectl -n kube-system rollout status daemonset/node-local-dns --timeout=300s") < \
        commands.index("systemctl restart kubelet")

    again = machine.run(script, "nodelocal-dnscache")
    assert again.returncode == 0, again.stderr
    assert machine.commands().count("systemctl restart kubelet") == 1  # nothing left to change
    assert len(applied(machine, "ConfigMap", "kubelet-config")) == 1

    reset = machine.run(script, "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert machine.read("/var/lib/kubelet/config.yaml") == KUBELET_CONFIG
    assert machine.read(f"{KUBE}/kubelet-config") == KUBELET_CONFIG
    assert machine.commands().count("systemctl restart kubelet") == 2


def test_nodelocal_dnscache_on_a_re_run_adds_the_cache_and_keeps_the_rest(machine) -> None:
    script = render_script()
    assert machine.run(script).returncode == 0
    [(_, before)] = applied(machine, "DaemonSet", "weave-net")
    files = machine.snapshot()
    calls = len(machine.calls())
    result = machine.run(script, "nodelocal-dnscache")
    assert result.returncode == 0, result.stderr
    changed = {p for p, d in machine.snapshot().items() if files.get(p) != d and not p.startswith(KUBE)}
    assert changed == set()  # no host file: iptables mode leaves the kubelet alone
    assert not any(c.startswith(("kubeadm init", "apt-get install", "systemctl restart"))
                   for c in machine.commands()[calls:])
    assert len(applied(machine, "DaemonSet", "node-local-dns")) == 1
    [_, (_, after)] = applied(machine, "DaemonSet", "weave-net")
    assert after == before  # the same Weave manifest: kubectl apply leaves it unchanged
    assert len(secret_creations(machine)) == 1


MIXED = samples.ENCRYPTED_FASTDP + samples.ENCRYPTED_SLEEVE + samples.DOCS_CONNECTIONS.splitlines(keepends=True)[3]


@pytest.mark.parametrize("how", ["route", "action"])
def test_troubleshoot_runs_the_two_weave_commands_and_explains_them(machine, how: str) -> None:
    machine.write(f"{KUBE}/connections", MIXED)
    machine.write(f"{KUBE}/nodelocaldns.yaml", "deployed\n")
    if how == "route":
        result = machine.run(render_script("scripts/kubernetes-troubleshoot.sh.j2"))
    else:
        result = machine.run(render_script(), "troubleshoot")
    assert result.returncode == 1, result.stderr  # a sleeve and a failed peer: problems found
    out = result.stdout
    assert "$ kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status\n" in out
    assert "$ kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status connections\n" in out
    assert "Established connections: 4 (encrypted 4, fastdp 3, sleeve 1)" in out
    assert "  10.91.141.84:40536 (x01badaapp41a.vsi.uat.dbs.com)\n" in out
    assert "192.168.48.15:6783 failed: dial tcp4 192.168.48.15:6783: no route to host" in out
    assert "Ready on 1 of 1 nodes." in out
    assert "Resolved through 10.96.0.10: pods resolve cluster names." in out
    assert "1 of 3 checks found problems" in out
    exec_calls = [c for c in machine.calls() if c[:4] == ["kubectl", "-n", "kube-system", "exec"]]
    assert [c[-1] for c in exec_calls] == ["status", "connections"]
    assert not any(c[:2] == ["kubectl", "apply"] or c[:2] == ["kubectl", "create"] for c in machine.calls())


WEAVE_TRACES = ["/var/lib/weave/weave-netdata.db", "/etc/cni/net.d/10-weave.conflist", "/opt/cni/bin/weave-net",
                "/opt/cni/bin/weave-ipam", "/opt/cni/bin/weave-plugin-2.8.1"]


@pytest.mark.parametrize("template", ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2"])
def test_reset_removes_weaves_traces_so_a_reinstalled_host_starts_clean(machine, template: str) -> None:
    for path in WEAVE_TRACES:  # what weave-init and the weave container leave on a host
        machine.write(path, "x")
    result = machine.run(render_script(template), "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert [path for path in WEAVE_TRACES if machine.exists(path)] == []


def test_troubleshoot_on_a_healthy_single_host_without_the_dns_cache(machine) -> None:
    result = machine.run(render_script("scripts/kubernetes-troubleshoot.sh.j2", cluster_domain="cluster.local"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No peers yet: this is the only Weave Net host." in result.stdout
    assert ("Not deployed: pods query CoreDNS directly. To add it: "
            "curl -sSL 'http://kubeinit.test:8000/kubernetes-init' | sudo bash -s nodelocal-dnscache") in result.stdout
    assert result.stdout.endswith("All 3 checks passed.\n")


@pytest.mark.parametrize("template", ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2"])
def test_the_preflight_action_warns_about_a_firewall_that_forces_sleeve(machine, template: str) -> None:
    from tests.lib.test_weave import IPTABLES_DROPS

    machine.write("/usr/local/sbin/iptables-save", f"#!/bin/sh\ncat <<'EOF'\n{IPTABLES_DROPS}EOF\n", 0o755)
    result = machine.run(render_script(template), "preflight")
    assert result.returncode == 0, result.stderr
    assert "[WARN] preflight warning: weave ESP: local firewall rules drop IPSec ESP (IP protocol 50)" in result.stderr
    assert "[WARN] preflight warning: weave UDP: local firewall rules drop UDP 6783/6784" in result.stderr
