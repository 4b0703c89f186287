"""The connectivity check (after install and in troubleshoot): a test pod on each schedulable node,
pod to pod across every pair, pod to Service, DNS; a report per pair with likely causes; the pods
removed afterwards. kubectl is a stub answering as kubectl does for these calls (jsonpath output
without a trailing newline, `exec` relaying the command's output and exit status)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.params import KUBERNETES_MINORS
from tests.support import Stubs, render_script
from tests.support.network import call

# The test pods as applied (their nodeName), 10.32.0.5 onwards; agnhost netexec answers /hostname with the pod's name and
# /echo?msg= with the message. A file "blocked" lists "FROM_POD TO_IP" pairs whose packets are lost
# (curl: (28) after its -m, as curl says it), "mtu" those that lose only full-size ones.
# NetworkPolicy as weave-npc enforces it: the policy kubectl applied (kind NetworkPolicy on stdin) is kept
# until a delete of networkpolicy; weave-npc on the target pod's node drops what it does not allow (its
# iptables WEAVE-NPC-INGRESS chain: rajch/weave npc/controller.go and npc/namespace.go), unless the node is
# listed in "npc-off" (bridged traffic skips iptables there: br_netfilter off) or, for the allowing policy,
# "npc-drops" (weave-npc keeps dropping). "other-policies" names policies of the namespace's own.
KUBECTL = r"""S=${STATE:?}
case "$*" in
  *"apply -f -"*)
    if grep -q '^kind: Pod' "$stdin_file"; then sed -n 's/^  nodeName: "\(.*\)"$/\1/p' "$stdin_file" >$S/pods; fi
    if grep -q '^kind: NetworkPolicy' "$stdin_file"; then
      if grep -q '^    - from:' "$stdin_file"; then echo allow >$S/policy; else echo deny >$S/policy; fi
      echo "networkpolicy.networking.k8s.io/kubeinit-net-test configured"
    fi ;;
  *"delete pod,service,networkpolicy"*) rm -f $S/policy ;;
  *"get nodes"*unschedulable*) cat $S/nodes ;;
  *"get pods -l app=kubeinit-net-test"*) awk '{printf "kubeinit-net-%d %s 10.32.0.%d\n", NR - 1, $1, NR + 4}' $S/pods ;;
  *"get networkpolicy"*) cat $S/other-policies 2>/dev/null; printf '%s' "$([ -e $S/policy ] && echo 'kubeinit-net-test ')" ;;
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
    target=$(sed -n "$((${ip##*.} - 4))p" $S/pods)
    if grep -qx "$pod $ip" $S/blocked 2>/dev/null; then dropped=1
    else case $(cat $S/policy 2>/dev/null):$url in
      deny:*/hostname) grep -qx "$target" $S/npc-off 2>/dev/null && dropped=0 || dropped=1 ;;
      allow:*/hostname) grep -qx "$target" $S/npc-drops 2>/dev/null && dropped=1 || dropped=0 ;;
      *) dropped=0 ;;
    esac; fi
    if [ "$dropped" = 1 ]; then
      m=$(printf '%s\n' "$@" | grep -A1 -x -- -m | tail -n1)
      echo "curl: (28) Connection timed out after ${m}001 milliseconds"; echo "command terminated with exit code 28" >&2; exit 28
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


def check(tmp_path: Path, nodes: str, blocked: str = "", mtu: str = "", *words: str, **state_files: str):
    state = tmp_path / "state"
    state.mkdir()
    (state / "nodes").write_text(nodes)
    (state / "blocked").write_text(blocked)
    (state / "mtu").write_text(mtu)
    for name, text in state_files.items():
        (state / name.replace("_", "-")).write_text(text)
    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": KUBECTL})
    result = call(render_script(), *(words or ("connectivity_check",)), env={**stubs.env(), "STATE": str(state)})
    return result, stubs


def test_every_pair_service_and_dns_pass_and_the_pods_are_removed(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 \nnode3 \n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Nodes: 3, test pods: 3, running: 3" in out
    for a in ("node1", "node2", "node3"):
        for b in ("node1", "node2", "node3"):
            assert (f"  {a} -> {b}: ok\n" in out) == (a != b)
        assert f"  {a}: Service 10.96.0.77:8080 answers" in out
        assert f"  {a}: DNS resolves kubernetes.default.svc.cluster.local through 10.96.0.10" in out
    for a, b in (("node1", "node2"), ("node2", "node3"), ("node3", "node1")):  # each node's pod, from the next node's
        assert f"  {a}: enforced (deny-all stopped {b}, the allow policy let it through)\n" in out
    assert out.endswith("The pod network works: every pair of nodes, the Service and DNS answered, and every node "
                        "enforced NetworkPolicy.\n")
    calls = stubs.calls()
    applies = [i for i, c in enumerate(calls) if c[:2] == ["kubectl", "apply"]]
    pods = [d for d in yaml.safe_load_all(stubs.stdin(applies[0])) if d and d["kind"] == "Pod"]
    assert [p["spec"]["nodeName"] for p in pods] == ["node1", "node2", "node3"]
    assert all(p["spec"]["activeDeadlineSeconds"] == 600 for p in pods)  # bounded even if this script dies
    deny, allow = (yaml.safe_load(stubs.stdin(i)) for i in applies[1:])
    assert deny["spec"] == {"podSelector": {"matchLabels": {"app": "kubeinit-net-test"}}, "policyTypes": ["Ingress"]}
    assert allow["spec"]["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app": "kubeinit-net-test"}}}],
                                         "ports": [{"port": 8080}]}]
    assert calls[-2][:5] == ["kubectl", "-n", "default", "delete", "pod,service,networkpolicy"]  # removed afterwards
    assert not (tmp_path / "state/policy").exists()


def test_a_blocked_pair_is_named_with_the_likely_causes(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 \n", blocked="kubeinit-net-0 10.32.0.6\n")
    assert result.returncode == 1
    out = result.stdout
    assert "  node1 -> node2 (10.32.0.6): FAILED, no answer (curl: (28) Connection timed out after 5001 milliseconds)" in out
    assert "  node2 -> node1: ok\n" in out
    assert "between nodes: a firewall or security group blocks TCP 6783, UDP 6783-6784 or ESP" in out
    assert "peers disagree on encryption" in out
    assert "MTU:" not in out
    # the policy cannot be proven over a broken pair: said so, not blamed on weave-npc
    assert "  node2: not tested: node1 -> node2 gets no answer without a policy (above)\n" in out
    assert "  - NetworkPolicy:" not in out  # not blamed on weave-npc
    assert "  node1: enforced (deny-all stopped node2, the allow policy let it through)\n" in out
    assert stubs.calls()[-2][:4] == ["kubectl", "-n", "default", "delete"]  # removed after a failure too


def test_full_size_packets_lost_point_at_the_mtu(tmp_path: Path) -> None:
    result, _ = check(tmp_path, "node1 \nnode2 \n", mtu="kubeinit-net-1 10.32.0.5\n")
    assert result.returncode == 1
    assert "  node2 -> node1 (10.32.0.5): FAILED, small packets pass, full-size ones do not" in result.stdout
    assert "MTU: the path between the hosts cannot carry Weave MTU plus encapsulation: lower weave-mtu" in result.stdout


def test_cordoned_nodes_get_no_test_pod(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 true\n")
    assert result.returncode == 0, result.stdout
    assert "Nodes: 2, test pods: 2, running: 2" in result.stdout  # two on the one schedulable node
    assert "  node2: cordoned, no test pod: not tested (uncordon it, then run this check again)\n" in result.stdout
    assert result.stdout.count("  node1 -> node1: ok\n") == 2


def test_dry_run_starts_nothing(tmp_path: Path) -> None:
    script = render_script().replace("\nDRY_RUN=0\n", "\nDRY_RUN=1\n")
    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": KUBECTL})
    result = call(script, "connectivity_check", env=stubs.env())
    assert result.returncode == 0
    assert result.stdout.startswith("+ connectivity check: a test pod (registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85)")
    assert stubs.calls() == []


# Two tries for a policy to take effect, not ten: a node that never enforces is named sooner.
SHORT = ("eval", "_net_policy_tries=2 && connectivity_check")


def test_a_node_whose_weave_npc_does_not_enforce_a_deny_all_policy_is_named(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \nnode2 \nnode3 \n", "", "", *SHORT, npc_off="node2\n")
    assert result.returncode == 1
    out = result.stdout
    assert ("  node2: NOT ENFORCED: its test pod still answered node3 behind a deny-all ingress policy: bridged "
            "traffic skips iptables there (br_netfilter not loaded, or net.bridge.bridge-nf-call-iptables=0), or "
            "weave-npc on node2 has not applied the policy") in out
    assert "  node1: enforced (deny-all stopped node2, the allow policy let it through)\n" in out
    assert "  node3: enforced" in out
    assert "  - NetworkPolicy: on the nodes named, bridged traffic skipping iptables" in out
    assert "  node1 -> node2: ok\n" in out  # without a policy, every pair answers
    assert not (tmp_path / "state/policy").exists()  # the policy is removed after a failure too
    assert stubs.calls()[-2][:5] == ["kubectl", "-n", "default", "delete", "pod,service,networkpolicy"]


def test_a_node_that_drops_what_the_allow_policy_allows_is_named(tmp_path: Path) -> None:
    result, _ = check(tmp_path, "node1 \nnode2 \n", "", "", *SHORT, npc_drops="node1\n")
    assert result.returncode == 1
    assert ("  node1: the allow policy did not let node2 through again: weave-npc on node1 drops what a policy "
            "allows") in result.stdout
    assert "  node2: enforced (deny-all stopped node1, the allow policy let it through)\n" in result.stdout


def test_a_single_node_gets_two_test_pods_and_its_policy_is_proven_on_its_bridge(tmp_path: Path) -> None:
    result, stubs = check(tmp_path, "node1 \n")
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "Nodes: 1, test pods: 2, running: 2" in out and out.count("  node1 -> node1: ok\n") == 2
    assert out.count("  node1: enforced (deny-all stopped node1, the allow policy let it through)\n") == 2
    assert out.endswith("and every node enforced NetworkPolicy.\n")


def test_policies_of_the_namespaces_own_leave_the_policy_untested_and_unclaimed(tmp_path: Path) -> None:
    # Policies add up: an allow-same-namespace policy in default would let the test traffic past the deny-all.
    result, stubs = check(tmp_path, "node1 \nnode2 \n", other_policies="allow-same-namespace ")
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert ("  not tested: namespace default has NetworkPolicies of its own (allow-same-namespace), which may allow "
            "the test traffic\n") in out
    assert "NOT ENFORCED" not in out
    assert out.endswith("the Service and DNS answered (NetworkPolicy not tested: above).\n")
    assert not [o for i, c in enumerate(stubs.calls()) if c[:2] == ["kubectl", "apply"]
                for o in yaml.safe_load_all(stubs.stdin(i)) if o and o["kind"] == "NetworkPolicy"]


def test_an_mtu_only_pair_still_tests_the_policy(tmp_path: Path) -> None:
    # small requests pass where full-size answers do not: the policy test's small requests still prove it
    result, _ = check(tmp_path, "node1 \nnode2 \n", mtu="kubeinit-net-1 10.32.0.5\n")
    assert "  node1: enforced (deny-all stopped node2, the allow policy let it through)\n" in result.stdout
    assert "  - NetworkPolicy:" not in result.stdout


@pytest.mark.parametrize("minor", KUBERNETES_MINORS)
def test_the_checks_objects_pass_strict_validation(tmp_path: Path, minor: str) -> None:
    _, stubs = check(tmp_path, "node1 \nnode2 \n")
    objects = [o for i, c in enumerate(stubs.calls()) if c[:2] == ["kubectl", "apply"]
               for o in yaml.safe_load_all(stubs.stdin(i)) if o]
    assert [o["kind"] for o in objects] == ["Pod", "Pod", "Service", "NetworkPolicy", "NetworkPolicy"]
    for obj in objects:
        kubernetes_validate.validate(obj, minor, strict=True)  # raises ValidationError
