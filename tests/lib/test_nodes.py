"""remove-node=NAME on a control plane: drain, etcd member (control planes), delete, Weave's address
range back; never the last control plane, never a broken quorum, never this host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script, run_bash, with_body
from tests.support.cluster import add_nodes, control_plane, in_order, since
from tests.support.rootfs import CLUSTER



def remove(host, name: str, *flags: str):
    return host.run(render_script(kubernetes_version="1.36"), f"remove-node={name}", *flags)


@pytest.mark.parametrize(("args", "message"), [
    (("remove-node",), "remove-node: needs a value: remove-node=NAME"),
    (("remove-node=Bad_Name",), "kubeinit: remove-node: 'Bad_Name' is not a NAME"),
    (("remove-node=a", "reset"), "reset: cannot be combined with remove-node"),
])
def test_remove_node_takes_one_checked_name(args, message) -> None:
    result = run_bash(render_script(), *args)
    assert result.returncode == 1
    assert message in result.stderr


def test_the_join_script_sends_remove_node_to_the_control_plane() -> None:
    result = run_bash(render_script("scripts/kubernetes-node-join.sh.j2"), "remove-node=worker1")
    assert result.returncode == 1 and "remove-node: an action of kubernetes-init, on the control plane" in result.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_remove_node_drains_for_drain_timeout(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker True v1.36.3")
    start = len(host.calls())
    result = remove(host, "worker1", "drain-timeout=1h")
    assert result.returncode == 0, result.stderr
    assert "kubectl drain worker1 --ignore-daemonsets --delete-emptydir-data --timeout=1h" in since(host, start)


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_worker_is_drained_deleted_and_its_weave_range_reclaimed(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker True v1.36.3")
    start = len(host.calls())
    result = remove(host, "worker1")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    assert in_order(commands, [
        "kubectl drain worker1 --ignore-daemonsets --delete-emptydir-data --timeout=300s",
        "kubectl delete node worker1",
        "kubectl -n kube-system exec weave-net-",
    ]) == []
    # Weave's reclaim daemon gives the range back on exactly one peer; a second rmpeer could double it
    assert commands[-1].endswith("-c weave -- /home/weave/weave --local status ipam")
    assert not [c for c in commands if "rmpeer" in c]
    assert "Weave: worker1's address range went back to the remaining peers" in result.stderr
    assert not [c for c in commands if "etcdctl" in c and " member " in c]  # the backup first is a snapshot
    assert "worker1" not in host.read(f"{CLUSTER}/nodes")
    assert "'reset yes'" in result.stderr
    again = remove(host, "worker1")  # a re-run: the node is gone, the range is asked back again
    assert again.returncode == 0 and "node worker1: not in the cluster" in again.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_range_weave_keeps_listing_is_named_with_the_one_rmpeer_to_run(tmp_path: Path) -> None:
    """No remaining peer's reclaim daemon took worker1's range back (it missed the Node's deletion): the run warns with
    the single rmpeer to run on one host, and never runs one itself (two would hand the range out twice)."""
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker True v1.36.3")
    host.write(f"{CLUSTER}/weave-unreclaimed", "worker1\n")
    # two asks, 2 s apart, instead of 15 (30 s)
    script = with_body(render_script(kubernetes_version="1.36"), '_nodes_reclaim_tries=2\nmain "$@"')
    start = len(host.calls())
    result = host.run(script, "remove-node=worker1")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    assert sum(c.endswith("--local status ipam") for c in commands) == 2
    assert not [c for c in commands if "rmpeer" in c]
    pod = next(c.split()[4] for c in commands if c.endswith("--local status ipam"))
    assert (f"Weave still lists worker1 in 'weave status ipam' ({pod}); if it stays, run once, on one host only: "
            f"kubectl -n kube-system exec {pod} -c weave -- /home/weave/weave --local rmpeer worker1") in result.stderr
    assert "worker1" not in host.read(f"{CLUSTER}/nodes")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_control_plane_also_leaves_etcd(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane True v1.36.3")
    start = len(host.calls())
    result = remove(host, "cp3")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    member = next(c for c in commands if "member list" in c)
    assert "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt" in member
    assert in_order(commands, ["kubectl drain cp3", "kubectl -n kube-system exec etcd-", "kubectl delete node cp3"]) == []
    removal = next(c for c in commands if "member remove" in c)
    assert host.read(f"{CLUSTER}/etcd-removed").strip() == removal.split()[-1]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
@pytest.mark.parametrize(("nodes", "name", "message"), [
    (("worker1 worker True v1.36.3",), "SELF", "is this host: run remove-node="),
    (("cp2 control-plane False v1.36.3", "cp3 control-plane True v1.36.3"), "cp3",
     "removing cp3 leaves 2 etcd members of which only 1 healthy, under the majority of 2"),
], ids=["this-host", "quorum"])
def test_removals_that_would_break_the_cluster_are_refused_before_any_change(tmp_path: Path, nodes, name, message) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, *nodes)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    before, start = host.snapshot(), len(host.calls())
    result = remove(host, here if name == "SELF" else name)
    assert result.returncode == 1
    assert message in result.stderr
    assert host.snapshot() == before
    assert not [c for c in since(host, start) if c.startswith(("kubectl drain", "kubectl delete")) or "member remove" in c]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_quorum_guard_asks_etcd_not_the_nodes_ready(tmp_path: Path) -> None:
    # cp2's Node says Ready, but its etcd member does not answer (etcdctl endpoint health): removing cp3 would leave
    # one healthy member of two, and etcd's own mayRemoveMember refuses that.
    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane True v1.36.3")
    host.write(f"{CLUSTER}/etcd-unhealthy", "cp2\n")
    result = remove(host, "cp3")
    assert result.returncode == 1
    assert "removing cp3 leaves 2 etcd members of which only 1 healthy, under the majority of 2" in result.stderr
    assert "cp3" in host.read(f"{CLUSTER}/nodes") and not host.exists(f"{CLUSTER}/etcd-removed")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_last_control_plane_is_never_removed(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    # As a cluster whose one control plane is cp0 lists itself (this host only holds an admin kubeconfig).
    host.write(f"{CLUSTER}/nodes", f"cp0 control-plane True v1.36.3\n{here} worker True\n")
    result = remove(host, "cp0")
    assert result.returncode == 1
    assert "cp0 is the last control plane: removing it ends the cluster" in result.stderr
    assert "cp0" in host.read(f"{CLUSTER}/nodes")


def test_help_options_and_page_show_the_action_with_its_value() -> None:
    from fastapi.testclient import TestClient

    from app.main import app

    client = TestClient(app)
    actions = {a["name"]: a for a in client.get("/options").json()["actions"]}
    assert actions["remove-node"]["value"] == "NAME" and actions["upgrade"]["value"] == ""
    assert "<code>remove-node=NAME</code>" in client.get("/").text
    assert "  remove-node=NAME" in run_bash(render_script(), "help").stdout


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_dead_control_plane_is_drained_without_waiting_and_leaves_etcd(tmp_path: Path) -> None:
    # cp3's kubelet is gone: the stub's drain, like kubectl's, waits for its pods until --timeout, unless
    # --skip-wait-for-delete-timeout lets it skip them (kubernetes/kubernetes#85577; Cluster API's drainNode).
    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane Unknown v1.36.3")
    start = len(host.calls())
    result = remove(host, "cp3")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    drain = next(c for c in commands if c.startswith("kubectl drain cp3"))
    assert "--disable-eviction --force --skip-wait-for-delete-timeout=1" in drain
    assert in_order(commands, ["kubectl drain cp3", "kubectl -n kube-system exec etcd-", "kubectl delete node cp3"]) == []
    assert host.read(f"{CLUSTER}/etcd-removed").strip() == next(c for c in commands if "member remove" in c).split()[-1]
    assert "cp3" not in host.read(f"{CLUSTER}/nodes")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_node_deleted_by_hand_still_leaves_etcd(tmp_path: Path) -> None:
    # kubectl delete node removes the Node object only: its etcd member stays until someone removes it.
    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane Unknown v1.36.3")
    host.run(with_body(render_script(), "kubectl delete node cp3"))
    member = next(line.split(", ")[0] for line in host.run(with_body(render_script(), "etcd_members")).stdout.splitlines() if ", cp3, " in line)
    result = remove(host, "cp3")
    assert result.returncode == 0, result.stderr
    assert "node cp3: not in the cluster, but still an etcd member: removing it" in result.stderr
    assert host.read(f"{CLUSTER}/etcd-removed").strip() == member
    again = remove(host, "cp3")
    assert again.returncode == 0 and "node cp3: not in the cluster (removed already?)" in again.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
@pytest.mark.parametrize("step", ["drain ", "etcdctl", "delete node "])
def test_a_removal_interrupted_at_any_step_finishes_on_the_next_run(tmp_path: Path, step: str) -> None:
    from tests.support.rootfs import DEFAULT_BEHAVIOUR

    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane Unknown v1.36.3")
    host.behave("kubectl", f'case "$*" in *"{step}"*"cp3"*|*"{step}"*"member remove"*|*"member remove"*"{step}"*) '
                'echo "error: the step failed" >&2; exit 1 ;; esac\n' + DEFAULT_BEHAVIOUR["kubectl"])
    failed = remove(host, "cp3")
    assert failed.returncode == 1 and "run remove-node=cp3 again" in failed.stderr
    host.behave("kubectl")
    again = remove(host, "cp3")
    assert again.returncode == 0, again.stderr
    assert "cp3" not in host.read(f"{CLUSTER}/nodes")
    assert host.read(f"{CLUSTER}/etcd-removed")
