"""The connectivity check (after install and in troubleshoot): a test pod on each schedulable node,
pod to pod across every pair, pod to Service, DNS; a report per pair with likely causes; the pods
removed afterwards. kubectl is a stub answering as kubectl does for these calls (jsonpath output
without a trailing newline, `exec` relaying the command's output and exit status)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support import Stubs, render_script
from tests.support.network import call

# One pod a node, 10.32.0.5 onwards; agnhost netexec answers /hostname with the pod's name and
# /echo?msg= with the message. A file "blocked" lists "FROM_POD TO_IP" pairs whose packets are lost
# (curl: (28) after its -m 5), "mtu" those that lose only full-size ones.
KUBECTL = r"""S=${STATE:?}
case "$*" in
  *"get nodes"*unschedulable*) cat $S/nodes ;;
  *"get pods -l app=kubeinit-net-test"*)
    awk '$2 != "true" {printf "kubeinit-net-%d %s 10.32.0.%d\n", n, $1, n + 5; n++}' $S/nodes ;;
  *"get service kubeinit-net-test"*) printf 10.96.0.77 ;;
  *"get daemonset node-local-dns"*) ;;
  *"wait --for=condition=Ready"*) echo "pod/kubeinit-net-0 condition met" ;;
  *" exec "*)
    pod=$(printf '%s\n' "$@" | grep -m1 '^kubeinit-net-')
    url=$(printf '%s\n' "$@" | grep -m1 '^http://')
    ip=${url#http://}; ip=${ip%%:*}
    case "$*" in
      *nslookup*) printf 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n'; exit 0 ;;
    esac
    if grep -qx "$pod $ip" $S/blocked 2>/dev/null; then
      echo "curl: (28) Connection timed out after 5001 milliseconds"; echo "command terminated with exit code 28" >&2; exit 28
    fi
    case $url in
      *"/echo?msg="*)
        if grep -qx "$pod $ip" $S/mtu 2>/dev/null; then
          echo "curl: (28) Operation timed out after 5000 milliseconds with 0 bytes received"; exit 28
        fi
        printf '%s' "${url#*msg=}" ;;
      *10.96.0.77*) printf kubeinit-net-0 ;;
      *) printf 'kubeinit-net-%s' $((${ip##*.} - 5)) ;;
    esac ;;
esac
"""


def check(tmp_path: Path, nodes: str, blocked: str = "", mtu: str = "", *words: str):
    state = tmp_path / "state"
    state.mkdir()
    (state / "nodes").write_text(nodes)
    (state / "blocked").write_text(blocked)
    (state / "mtu").write_text(mtu)
    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": KUBECTL})
    result = call(render_script(), *(words or ("connectivity_check",)), env={**stubs.env(), "STATE": str(state)})
    return result, stubs


def test_every_pair_service_and_dns_pass_and_the_pods_are_removed(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 \nnode3 \n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Nodes: 3, schedulable: 3, test pods running: 3" in out
    for a in ("node1", "node2", "node3"):
        for b in ("node1", "node2", "node3"):
            assert (f"  {a} -> {b}: ok\n" in out) == (a != b)
        assert f"  {a}: Service 10.96.0.77:8080 answers" in out
        assert f"  {a}: DNS resolves kubernetes.default.svc.cluster.local through 10.96.0.10" in out
    assert out.endswith("The pod network works: every pair of nodes, the Service and DNS answered.\n")
    calls = stubs.calls()
    [apply] = [i for i, c in enumerate(calls) if c[:2] == ["kubectl", "apply"]]
    pods = [d for d in yaml.safe_load_all(stubs.stdin(apply)) if d and d["kind"] == "Pod"]
    assert [p["spec"]["nodeName"] for p in pods] == ["node1", "node2", "node3"]
    assert all(p["spec"]["activeDeadlineSeconds"] == 600 for p in pods)  # bounded even if this script dies
    assert calls[-2][:5] == ["kubectl", "-n", "default", "delete", "pod,service"]  # removed afterwards


def test_a_blocked_pair_is_named_with_the_likely_causes(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 \n", blocked="kubeinit-net-0 10.32.0.6\n")
    assert result.returncode == 1
    out = result.stdout
    assert "  node1 -> node2 (10.32.0.6): FAILED, no answer (curl: (28) Connection timed out after 5001 milliseconds)" in out
    assert "  node2 -> node1: ok\n" in out
    assert "between nodes: a firewall or security group blocks TCP 6783, UDP 6783-6784 or ESP" in out
    assert "peers disagree on encryption" in out
    assert "MTU:" not in out
    assert stubs.calls()[-2][:4] == ["kubectl", "-n", "default", "delete"]  # removed after a failure too


def test_full_size_packets_lost_point_at_the_mtu(tmp_path: Path) -> None:
    result, _ = check(tmp_path, "node1 \nnode2 \n", mtu="kubeinit-net-1 10.32.0.5\n")
    assert result.returncode == 1
    assert "  node2 -> node1 (10.32.0.5): FAILED, small packets pass, full-size ones do not" in result.stdout
    assert "MTU: the path between the hosts cannot carry Weave MTU plus encapsulation: lower weave-mtu" in result.stdout


def test_cordoned_nodes_get_no_test_pod(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 true\n")
    assert result.returncode == 0, result.stdout
    assert "Nodes: 2, schedulable: 1, test pods running: 1" in result.stdout
    assert "one node only: no pair to test" in result.stdout


def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    script = render_script().replace("\nDRY_RUN=0\n", "\nDRY_RUN=1\n")
    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": KUBECTL})
    result = call(script, "connectivity_check", env=stubs.env())
    assert result.returncode == 0
    assert result.stdout.startswith("+ connectivity check: a test pod (registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85)")
    assert stubs.calls() == []
