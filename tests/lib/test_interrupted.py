"""upgrade, renew-certs and remove-node killed before each of their host-changing commands in turn, then run again.

Every ``run`` and ``file_write`` of a whole run is counted; each case starts again from the same control plane
(its upper layer copied back), kills a run with SIGKILL just before command N, as a lost host or a killed
``sudo bash`` does (tests/lib/test_backup.py INTERRUPT), and runs the action again: the second run finishes,
and leaves the host and the stubbed cluster as one uninterrupted run does. backup and restore have theirs in
tests/lib/test_backup.py. (A file of its own: the cases of one file run on
one test process.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.lib.test_backup import INTERRUPT
from tests.support import render_script, with_body
from tests.support.cluster import JOIN, add_nodes, control_plane, join_flags
from tests.support.rootfs import CLUSTER, STATE, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

# renew-certs waits the kubelet's fileCheckFrequency (20 s: lib/certs, tested in test_certs.py) with the
# manifests out: here the wait is one second, in the cut runs and the re-runs alike; nothing else differs.
SHORT_WAIT = "_certs_file_check=0\n"
MANIFESTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")


def outcome(host) -> dict[str, object]:
    """What a finished run leaves that a user would notice: the cluster's version, cordons, the packages and
    their holds, the static pods' manifests, parked manifests, root's kubeconfig, the kubelet's restart."""
    cluster = host.path(CLUSTER)
    return {
        "version": host.read(f"{CLUSTER}/version"),
        "cordoned": sorted(p.name for p in cluster.glob("cordoned.*")),
        "packages": dict(line.split(" ", 1) for line in (host.read(f"{STATE}/packages") or "").splitlines()),
        "holds": sorted(set((host.read(f"{STATE}/held") or "").split())),
        "manifests": [c for c in MANIFESTS if host.exists(f"/etc/kubernetes/manifests/{c}.yaml")],
        "parked": host.exists("/etc/kubeinit/parked-manifests"),
        "kubeconfig": host.read("/root/.kube/config") == host.read("/etc/kubernetes/admin.conf"),
        "kubelet restarted on its package": restarted(host.commands()),
        "kubelet restart still due": host.exists("/etc/kubeinit/kubelet-upgraded"),
        "nodes": host.read(f"{CLUSTER}/nodes"),
        "etcd members removed": host.read(f"{CLUSTER}/etcd-removed"),
    }


def restarted(commands: list[str]) -> bool:
    """The kubelet's last restart comes after its package last changed (none changed: True)."""
    changed = [i for i, c in enumerate(commands) if c.startswith("apt-get install") and " kubelet" in c]
    restarts = [i for i, c in enumerate(commands) if c == "systemctl restart kubelet"]
    return not changed or bool(restarts) and restarts[-1] > changed[-1]


def _control_plane(tmp_path: Path, version: str):
    host, _ = control_plane(tmp_path)
    return host, render_script(kubernetes_version=version)


def _three_control_planes(tmp_path: Path, version: str):
    host, _ = control_plane(tmp_path)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane True v1.36.3")
    return host, render_script(kubernetes_version=version)


def _node(tmp_path: Path, version: str):
    """A joined node (1.36.3) whose control plane already runs 1.37.2."""
    node = Machine(tmp_path / "node")
    joined = node.run(render_script(JOIN, kubernetes_version="1.36.3"), *join_flags())
    assert joined.returncode == 0, joined.stderr
    node.write(f"{CLUSTER}/version", "v1.37.2\n")
    return node, render_script(JOIN, kubernetes_version=version)


@pytest.mark.parametrize(("host_of", "action", "version"), [
    (_control_plane, "upgrade", "1.37"), (_node, "upgrade", "1.37"), (_control_plane, "renew-certs", "1.36"),
    (_three_control_planes, "remove-node=cp3", "1.36"),
], ids=["control-plane-upgrade", "node-upgrade", "renew-certs", "remove-node"])
def test_a_run_killed_before_any_step_is_run_again_and_finishes(tmp_path: Path, host_of, action: str, version: str) -> None:
    host, script = host_of(tmp_path, version)
    cut, rerun = with_body(script, SHORT_WAIT + INTERRUPT), with_body(script, SHORT_WAIT + 'main "$@"')
    saved = tmp_path / "saved"
    subprocess.run(["cp", "-a", str(host.upper), str(saved)], check=True)

    def start_over() -> None:
        shutil.rmtree(host.upper)
        subprocess.run(["cp", "-a", str(saved), str(host.upper)], check=True)

    whole = host.run(cut, action)
    assert whole.returncode == 0, whole.stderr
    total, expected = int(host.read("/tmp/steps")), outcome(host)
    assert total >= 5 and not expected["parked"] and not expected["kubelet restart still due"]
    assert expected["manifests"] == ([] if host_of is _node else list(MANIFESTS))
    for stop in range(1, total + 1):
        start_over()
        killed = host.run(cut, action, env={"STOP_AT": str(stop)})
        # (the "interrupted" line goes where that command's stderr went: a step whose errors are captured hides it)
        assert killed.returncode == -9 and host.read("/tmp/steps").strip() == str(stop)
        again = host.run(rerun, action)
        assert again.returncode == 0, f"killed at step {stop}: {again.stderr}"
        assert outcome(host) == expected, f"killed at step {stop}: {killed.stderr.splitlines()[-3:]}"
