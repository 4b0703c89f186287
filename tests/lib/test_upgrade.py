"""The upgrade action, end to end against the stubbed cluster: kubeadm's documented procedure
(https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/) on the control plane
and on a node, every refusal before any change, re-runs after an interruption, and dry-run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.cluster import JOIN, add_nodes, control_plane, in_order, join_flags, since
from tests.support.rootfs import CLUSTER, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]


def upgrade(host: Machine, version: str = "1.37", *flags: str):
    return host.run(render_script(kubernetes_version=version), "upgrade", *flags)


def test_the_control_plane_upgrades_in_kubeadms_order_and_prints_each_workers_steps(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker True v1.36.3")
    start = len(host.calls())
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    assert in_order(since(host, start), [
        "kubectl --request-timeout=10s get --raw=/readyz",
        "apt-mark unhold kubeadm",
        "apt-get install -y -q --no-install-recommends kubeadm",
        "apt-mark hold kubeadm",
        "kubeadm config images list --kubernetes-version v1.37.3",  # containerd's sandbox image from the new kubeadm
        "kubeadm upgrade plan v1.37.3",
        "kubeadm upgrade apply v1.37.3 --yes",
        f"kubectl drain {here} --ignore-daemonsets --delete-emptydir-data",
        "apt-mark unhold kubelet kubectl",
        "apt-get install -y -q --no-install-recommends kubelet=1.37.3-* kubectl=1.37.3-*",
        "apt-mark hold kubelet kubectl",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
        f"kubectl uncordon {here}",
        "kubectl apply -f -",  # the network converges on this service's manifests
    ]) == []
    assert "v1.37/deb/" in host.read("/etc/apt/sources.list.d/kubernetes.list")
    assert host.read(f"{CLUSTER}/version") == "v1.37.3\n"
    assert ("  2. on worker1: curl -sSL 'http://kubeinit.test:8000/kubernetes-node-join?kubernetes_version=1.37.3' "
            "| sudo bash -s upgrade") in result.stdout
    assert "  1. here:     kubectl drain worker1 --ignore-daemonsets --delete-emptydir-data" in result.stdout
    assert "  3. here:     kubectl uncordon worker1" in result.stdout
    assert "renewed the control-plane certificates" in result.stderr
    assert not host.exists(f"{CLUSTER}/cordoned.{here}")


def test_the_upgrade_refreshes_root_kubeconfig_and_reset_still_knows_it(tmp_path: Path) -> None:
    # kubeadm upgrade apply renews admin.conf: root's copy went stale, and reset no longer took it for kubeinit's
    host, _ = control_plane(tmp_path)
    old = host.read("/etc/kubernetes/admin.conf")
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    assert host.read("/etc/kubernetes/admin.conf") != old
    assert host.read("/root/.kube/config") == host.read("/etc/kubernetes/admin.conf")
    reset = host.run(render_script(kubernetes_version="1.37"), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert not host.exists("/root/.kube/config")


def test_a_kubeadm_the_package_manager_kept_stops_the_upgrade_before_apply(tmp_path: Path) -> None:
    # an apt pin keeps kubeadm at 1.36 (apt-get exits 0, "already the newest version"): the run used to end
    # with exit 0 and the old version
    host, _ = control_plane(tmp_path)
    host.write("/etc/apt/preferences.d/kubernetes", "Package: kubeadm\nPin: version 1.36.*\nPin-Priority: 1001\n")
    start = len(host.calls())
    result = upgrade(host)
    assert result.returncode == 1
    assert ("upgrade: kubeadm is still v1.36.3 after its upgrade to 1.37: apt kept it: an apt pin "
            "(see 'apt-cache policy kubeadm' and /etc/apt/preferences.d/)") in result.stderr
    assert not [c for c in since(host, start) if c.startswith(("kubeadm upgrade", "kubectl drain"))]
    assert host.read(f"{CLUSTER}/version") == "v1.36.3\n"


def test_the_upgrade_fetches_the_reissued_pkgs_k8s_io_key(tmp_path: Path) -> None:
    # the host kept the expired key: apt-get update refused the repository and the upgrade failed
    host, _ = control_plane(tmp_path)
    host.write("/etc/apt/keyrings/kubernetes-apt-keyring.gpg", "stub key EXPIRED in 2026\n")
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    assert "EXPKEYSIG" not in result.stderr
    assert "stub key for https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key" in host.read(
        "/etc/apt/keyrings/kubernetes-apt-keyring.gpg")
    assert host.read(f"{CLUSTER}/version") == "v1.37.3\n"


def test_containerd_pins_the_new_kubeadms_pause_image(tmp_path: Path) -> None:
    # containerd was configured before the new kubeadm was installed: its sandbox image stayed the old kubeadm's
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/pause", "v1.37 3.11\n")
    assert "registry.k8s.io/pause:3.10.1" in host.read("/etc/containerd/config.toml")
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    assert "sandbox = 'registry.k8s.io/pause:3.11'" in host.read("/etc/containerd/config.toml")


@pytest.mark.parametrize(("blocking", "cause"), [
    ("pdb default/web-0", "a PodDisruptionBudget allows no disruption of default/web-0"),
    ("bare default/debug", "no controller owns default/debug (bare pods"),
], ids=["pdb", "bare-pod"])
def test_a_drain_that_cannot_finish_names_the_pods_and_uncordons(tmp_path: Path, blocking: str, cause: str) -> None:
    # the only node was left cordoned after kubeadm upgrade apply, and the error always blamed a PodDisruptionBudget
    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    host.write(f"{CLUSTER}/blocking", blocking + "\n")
    result = upgrade(host)
    assert result.returncode == 1
    assert f"kubectl drain {here} failed: {cause}" in result.stderr
    assert not host.exists(f"{CLUSTER}/cordoned.{here}")
    host.path(f"{CLUSTER}/blocking").unlink()
    again = upgrade(host)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(("blocking", "shown"), [
    ("pdb default/web-0", "pod/web-0 deleted"),
    ("bare default/debug", "Warning: deleting Pods that declare no controller: default/debug"),
], ids=["pdb", "bare-pod"])
def test_drain_force_deletes_the_blocking_pods_and_the_upgrade_finishes(tmp_path: Path, blocking: str, shown: str) -> None:
    # the way out the failed drain names: there was none but deleting the pods or the budget by hand
    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    host.write(f"{CLUSTER}/blocking", blocking + "\n")
    failed = upgrade(host)
    assert failed.returncode == 1
    assert "or with drain=force (deletes bare pods, bypasses PodDisruptionBudgets: downtime)" in failed.stderr
    start = len(host.calls())
    result = upgrade(host, "1.37", "drain=force")
    assert result.returncode == 0, result.stderr
    assert shown in result.stderr
    assert f"kubectl drain {here} --ignore-daemonsets --delete-emptydir-data --timeout=300s --force --disable-eviction" in since(host, start)
    assert host.read(f"{CLUSTER}/version") == "v1.37.3\n"
    assert not host.exists(f"{CLUSTER}/cordoned.{here}")


def test_drain_skip_restarts_the_kubelet_under_its_pods_with_a_warning(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    host.write(f"{CLUSTER}/blocking", "bare default/debug\n")
    add_nodes(host, "worker1 worker True v1.36.3")
    start = len(host.calls())
    result = upgrade(host, "1.37", "drain=skip")
    assert result.returncode == 0, result.stderr
    assert f"drain=skip: {here} is not drained; its kubelet restarts under its running pods" in result.stderr
    commands = since(host, start)
    assert not [c for c in commands if c.startswith("kubectl drain")]
    assert "systemctl restart kubelet" in commands
    assert host.exists(f"{CLUSTER}/blocking")  # the bare pod was left alone
    assert "  1. here:     no drain (drain=skip): its kubelet restarts under its running pods" in result.stdout


def test_drain_timeout_is_the_drains_timeout_here_and_in_the_printed_steps(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    add_nodes(host, "worker1 worker True v1.36.3")
    host.write(f"{CLUSTER}/blocking", "pdb default/web-0\n")
    failed = upgrade(host, "1.37", "drain-timeout=15m")
    assert failed.returncode == 1
    assert "global timeout reached: 15m" in failed.stderr
    assert "run upgrade again, or with drain-timeout= longer" in failed.stderr
    host.path(f"{CLUSTER}/blocking").unlink()
    start = len(host.calls())
    result = upgrade(host, "1.37", "drain-timeout=15m")
    assert result.returncode == 0, result.stderr
    assert f"kubectl drain {here} --ignore-daemonsets --delete-emptydir-data --timeout=15m" in since(host, start)
    assert "  1. here:     kubectl drain worker1 --ignore-daemonsets --delete-emptydir-data --timeout=15m\n" in result.stdout


def test_a_bad_drain_timeout_is_refused_before_any_change(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    start = len(host.calls())
    result = upgrade(host, "1.37", "drain-timeout=5 minutes")
    assert result.returncode == 1
    assert ("kubeinit: drain-timeout: '5 minutes' is not a duration such as 300s, 10m or 1h "
            "(a whole number of s, m or h)") in result.stderr
    assert not [c for c in since(host, start) if c.startswith(("kubeadm upgrade", "apt-get", "kubectl drain"))]


def test_the_other_control_planes_command_names_the_exact_patch_reached(tmp_path: Path) -> None:
    # kubernetes_version=1.37 would let a later control plane take a newer patch than this one
    host, _ = control_plane(tmp_path, pod_cidr="10.244.0.0/16")
    add_nodes(host, "cp2 control-plane True v1.36.3")
    result = host.run(render_script(kubernetes_version="1.37", pod_cidr="10.244.0.0/16"), "upgrade")
    assert result.returncode == 0, result.stderr
    assert ("Control plane cp2 (kubelet v1.36.3): on it, run\n  curl -sSL 'http://kubeinit.test:8000/kubernetes-init"
            "?pod_cidr=10.244.0.0/16&kubernetes_version=1.37.3' | sudo bash -s upgrade") in result.stdout


def test_a_second_run_finds_the_upgrade_done_and_changes_nothing(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    assert upgrade(host).returncode == 0
    start = len(host.calls())
    again = upgrade(host)
    assert again.returncode == 0, again.stderr
    assert not [c for c in since(host, start) if c.startswith(("kubeadm upgrade", "apt-get install", "kubectl drain",
                                                               "systemctl restart kubelet"))]


def test_an_upgrade_interrupted_after_the_drain_finishes_on_the_next_run(tmp_path: Path) -> None:
    from tests.support.rootfs import DEFAULT_BEHAVIOUR

    host, _ = control_plane(tmp_path)
    here = host.read(f"{CLUSTER}/nodes").split()[0]
    # The first run dies installing the kubelet (a network outage), the node drained, the cluster applied.
    host.behave("apt-get", 'case " $* " in *" kubelet="*) echo "E: Failed to fetch https://pkgs.k8s.io/..." >&2; '
                'exit 100 ;; esac\n' + DEFAULT_BEHAVIOUR["apt-get"])
    first = upgrade(host)
    assert first.returncode != 0
    assert host.exists(f"{CLUSTER}/cordoned.{here}") and host.read(f"{CLUSTER}/version") == "v1.37.3\n"
    host.behave("apt-get")
    second = upgrade(host)
    assert second.returncode == 0, second.stderr
    assert not host.exists(f"{CLUSTER}/cordoned.{here}")  # uncordoned
    assert "kubelet=1.37.3-* kubectl=1.37.3-*" in " ".join(host.commands()[-40:])
    assert sum(c.startswith("kubeadm upgrade apply") for c in host.commands()) == 1  # not applied twice


@pytest.mark.parametrize(("cluster", "target", "message"), [
    ("1.35", "1.37", "1.35.3 to 1.37 skips a minor: upgrade one minor at a time, to 1.36 first (kubernetes-version=1.36)"),
    ("1.37", "1.36", "1.36 is older than 1.37.3: a downgrade is not possible"),
    ("1.37", "1.37.1", "1.37.1 is older than 1.37.3: a downgrade is not possible"),
], ids=["skip-minor", "downgrade-minor", "downgrade-patch"])
def test_refusals_come_before_any_change(tmp_path: Path, cluster: str, target: str, message: str) -> None:
    host, _ = control_plane(tmp_path, cluster)
    before, start = host.snapshot(), len(host.calls())
    result = upgrade(host, target)
    assert result.returncode == 1
    assert f"[ERROR] upgrade refused: {message}" in result.stderr
    assert "nothing was changed" in result.stderr
    assert host.snapshot() == before
    assert not [c for c in since(host, start)
                if not c.startswith(("kubectl --request-timeout", "dpkg-query", "containerd --version"))]  # reads only


def test_a_containerd_too_old_for_the_target_is_refused_before_any_change(tmp_path: Path) -> None:
    # Kubernetes 1.35 runs on containerd 1.7; 1.36 needs 2.0 (lib/containerd containerd_minimum)
    host = Machine(tmp_path / "cp", packages={"containerd.io": "1.7.27-1"})
    installed = host.run(render_script(kubernetes_version="1.35"))
    assert installed.returncode == 0, installed.stderr
    before, start = host.snapshot(), len(host.calls())
    result = upgrade(host, "1.36")
    assert result.returncode == 1
    assert ("[ERROR] upgrade refused: containerd 1.7.27 (containerd.io 1.7.27-1) cannot run Kubernetes 1.36, which "
            "needs containerd 2.0.0 or later: upgrade Docker's package: apt-get install containerd.io=2.2.6-*") in result.stderr
    assert host.snapshot() == before
    assert not [c for c in since(host, start) if c.startswith(("apt-", "kubeadm upgrade"))]

    node = Machine(tmp_path / "node", packages={"containerd.io": "1.7.27-1"})
    joined = node.run(render_script(JOIN, kubernetes_version="1.35"), *join_flags())
    assert joined.returncode == 0, joined.stderr
    node.write(f"{CLUSTER}/version", "v1.36.2\n")  # the control plane runs 1.36 already
    before = node.snapshot()
    result = node.run(render_script(JOIN, kubernetes_version="1.36"), "upgrade")
    assert result.returncode == 1
    assert "upgrade refused: containerd 1.7.27 (containerd.io 1.7.27-1) cannot run Kubernetes 1.36" in result.stderr
    assert node.snapshot() == before


def test_an_air_gapped_upgrade_stops_before_any_change_and_says_what_to_do(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    before, start = host.snapshot(), len(host.calls())
    result = upgrade(host, "1.37", "airgap=/root/kubeinit-airgap.tar.gz")
    assert result.returncode == 1
    assert ("upgrade with airgap: not supported yet, a new bundle cannot upgrade a cluster: upgrade with network "
            "access (leave airgap out), or reset each host and install again from the new bundle") in result.stderr
    assert host.snapshot() == before and since(host, start) == []

    node = worker(tmp_path)
    before = node.snapshot()
    result = node.run(render_script(JOIN, kubernetes_version="1.36"), "upgrade", "airgap=/root/kubeinit-airgap.tar.gz")
    assert result.returncode == 1
    assert "upgrade with airgap: not supported yet" in result.stderr
    assert node.snapshot() == before


def test_an_unhealthy_cluster_and_a_newer_node_are_listed_and_refused(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker False v1.36.3", "worker2 worker Unknown v1.36.3", "worker3 worker True v1.37.0")
    before = host.snapshot()
    result = upgrade(host)
    assert result.returncode == 1
    assert "the cluster is not healthy: NotReady node(s) worker1 worker2" in result.stderr
    assert "node worker3 runs kubelet v1.37.0, newer than the control plane's v1.36.3" in result.stderr
    assert host.snapshot() == before


def test_an_api_server_that_does_not_answer_is_refused(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/up", "down\n")
    result = upgrade(host)
    assert result.returncode == 1
    assert "upgrade refused: the API server does not answer" in result.stderr


def test_dry_run_upgrade_prints_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    add_nodes(host, "worker1 worker True v1.36.3")
    before = host.snapshot()
    result = host.run(render_script(kubernetes_version="1.37"), "dry-run", "upgrade")
    assert result.returncode == 0, result.stderr
    for line in ["+ 'apt-mark' 'unhold' 'kubeadm'", "+ 'kubeadm' 'upgrade' 'plan' 'v1.37.N'",
                 "+ 'kubeadm' 'upgrade' 'apply' 'v1.37.N' '--yes'", "+ 'systemctl' 'restart' 'kubelet'",
                 "+ 'kubectl' 'uncordon'", "Node worker1 (kubelet v1.36.3)"]:
        assert line in result.stdout
    assert host.snapshot() == before


def test_a_second_control_plane_runs_kubeadm_upgrade_node(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/version", "v1.37.3\n")  # the first control plane applied already
    start = len(host.calls())
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    assert "kubeadm upgrade node" in commands
    assert not [c for c in commands if c.startswith("kubeadm upgrade apply")]


def worker(tmp_path: Path, version: str = "1.36.3") -> Machine:
    node = Machine(tmp_path / "node")
    result = node.run(render_script(JOIN, kubernetes_version=version), *join_flags())
    assert result.returncode == 0, result.stderr
    return node


def test_a_node_upgrades_to_the_control_planes_version(tmp_path: Path) -> None:
    node = worker(tmp_path)
    node.write(f"{CLUSTER}/version", "v1.37.2\n")  # what the API server reports
    start = len(node.calls())
    result = node.run(render_script(JOIN, kubernetes_version="1.37"), "upgrade")
    assert result.returncode == 0, result.stderr
    assert in_order(since(node, start), [
        "kubectl --kubeconfig /etc/kubernetes/kubelet.conf --request-timeout=10s get --raw /version",
        "apt-mark unhold kubeadm",
        "apt-get install -y -q --no-install-recommends kubeadm=1.37.2-*",  # the control plane's patch, not newer
        "kubeadm upgrade node",
        "apt-get install -y -q --no-install-recommends kubelet=1.37.2-* kubectl=1.37.2-*",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
    ]) == []
    assert "on the control plane, run: kubectl uncordon" in result.stderr


def test_a_node_never_goes_past_the_control_plane(tmp_path: Path) -> None:
    node = worker(tmp_path)
    before = node.snapshot()
    result = node.run(render_script(JOIN, kubernetes_version="1.37.3"), "upgrade")  # the API server runs 1.36.3
    assert result.returncode == 1
    assert "1.37.3 is newer than the control plane's v1.36.3: upgrade the control plane first" in result.stderr
    assert node.snapshot() == before


def test_the_rhel_family_upgrades_through_dnf_past_the_exclude_line(tmp_path: Path) -> None:
    host = Machine(tmp_path / "cp", os_release="rocky9")
    assert host.run(render_script(kubernetes_version="1.36")).returncode == 0
    start = len(host.calls())
    result = upgrade(host)
    assert result.returncode == 0, result.stderr
    assert in_order(since(host, start), [
        "dnf install -y -q --disableexcludes=kubernetes kubeadm",
        "kubeadm upgrade apply v1.37.3 --yes",
        "dnf install -y -q --disableexcludes=kubernetes kubelet-1.37.3-* kubectl-1.37.3-*",
    ]) == []
    assert "baseurl=https://pkgs.k8s.io/core:/stable:/v1.37/rpm/" in host.read("/etc/yum.repos.d/kubernetes.repo")
    assert not [c for c in since(host, start) if c.startswith("apt-mark")]
