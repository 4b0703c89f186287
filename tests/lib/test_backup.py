"""backup and restore=PATH on a control plane (templates/lib/backup, restore, etcd): an etcd snapshot,
verified, with the PKI and kubeadm's configuration in a 0600 archive; its restore on one etcd member,
refused with the procedure on more; every step of either interrupted and run again."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import render_script, with_body
from tests.support.cluster import add_nodes, control_plane, in_order, since
from tests.support.rootfs import CLUSTER, DEFAULT_BEHAVIOUR

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]
BACKUPS = "/var/lib/kubeinit/backups"


def archives(host) -> list[str]:
    directory = host.path(BACKUPS)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_backup_then_its_restore_runs_end_to_end(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/etcd-revision", "100\n")
    result = host.run(render_script(), "backup")
    assert result.returncode == 0, result.stderr
    [name] = archives(host)
    archive = host.path(f"{BACKUPS}/{name}")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    listing = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True, check=True).stdout.split()
    assert {"etcd-snapshot.db", "kubeadm-config.yaml", "etc/kubernetes/pki/"} <= set(listing)
    assert f"backup: {BACKUPS}/{name} (etcd revision 100" in result.stderr
    assert not host.exists("/var/lib/etcd/kubeinit-snapshot.db")  # moved out of etcd's directory
    # the cluster moves on (another revision, a node), then the backup comes back
    host.write(f"{CLUSTER}/etcd-revision", "200\n")
    add_nodes(host, "worker9 worker True v1.36.3")
    before = host.read("/var/lib/etcd/member/snap/db")
    start = len(host.calls())
    result = host.run(render_script(), f"restore={BACKUPS}/{name}")
    assert result.returncode == 0, result.stderr
    assert in_order(since(host, start), ["kubectl -n kube-system exec etcd-", "ctr -n k8s.io run",
                                         "ctr -n k8s.io run", "crictl ps -q --name ^etcd$",
                                         "systemctl restart kubelet", "kubectl get --raw=/readyz"]) == []
    restored = host.read("/var/lib/etcd/member/snap/db")
    assert "revision 100" in restored and "worker9" not in restored
    aside = next(p for p in host.path("/var/lib").iterdir() if p.name.startswith("etcd.before-restore-"))
    assert (aside / "member/snap/db").read_text() == before
    assert f"kept in /var/lib/{aside.name}" in result.stderr
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        assert host.exists(f"/etc/kubernetes/manifests/{component}.yaml")
    assert not host.exists("/var/lib/kubeinit/restore")


def test_only_the_newest_five_backups_are_kept(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    for _ in range(6):
        assert host.run(render_script(), "backup").returncode == 0
    assert len(archives(host)) == 5


def test_a_damaged_snapshot_is_no_backup(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.behave("kubectl", 'case "$*" in *" -- etcdutl "*) echo "Error: invalid database" >&2; exit 1 ;; esac\n'
                + DEFAULT_BEHAVIOUR["kubectl"])
    result = host.run(render_script(), "backup")
    assert result.returncode == 1
    assert "Error: invalid database" in result.stderr and "the snapshot does not verify" in result.stderr
    assert [a for a in archives(host) if a.endswith(".tar.gz")] == []


def test_restore_on_several_etcd_members_refuses_with_the_procedure(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    assert host.run(render_script(), "backup").returncode == 0
    [name] = archives(host)
    add_nodes(host, "cp2 control-plane True v1.36.3", "cp3 control-plane True v1.36.3")
    before = host.snapshot()
    result = host.run(render_script(), f"restore={BACKUPS}/{name}")
    assert result.returncode == 1
    assert "etcd has 3 members" in result.stderr
    assert "on cp3: etcdutl snapshot restore /root/etcd-snapshot.db --data-dir /var/lib/etcd.restored --name cp3" in result.stderr
    assert "--initial-cluster " in result.stderr and ",cp2=https://" in result.stderr
    assert host.snapshot() == before


def test_the_automatic_backup_comes_before_renew_certs_changes_anything(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    start = len(host.calls())
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    assert in_order(since(host, start), ["kubectl -n kube-system exec etcd-", "kubeadm certs renew all"]) == []
    assert "renew-certs: an etcd backup first" in result.stderr and f"backup: {BACKUPS}/kubeinit-" in result.stderr


# A run interrupted before its Nth host-changing command: run and file_write count their calls and stop
# the script there with SIGKILL, as a lost host or a killed run would: the script's shell and, when the
# step runs in a subshell, that subshell too (which would go on counting otherwise).
INTERRUPT = """eval "_real_$(declare -f file_write)"
_steps() { n=$(($(cat /tmp/steps 2>/dev/null || echo 0) + 1)); echo "$n" >/tmp/steps
  if [ "$n" = "${STOP_AT:-0}" ]; then echo "interrupted at step $n: $*" >&2; kill -KILL $$ $BASHPID; fi; }
run() { _steps "$@"; [ "$DRY_RUN" = 1 ] && { printf '+ %s\\n' "${*@Q}"; return 0; }; "$@"; }
file_write() { _steps file_write "$@"; _real_file_write "$@"; }
main "$@"
"""


def interruptible() -> str:
    return with_body(render_script(), INTERRUPT)


@pytest.mark.parametrize("action", ["backup", "restore"])
def test_a_run_interrupted_at_any_step_is_run_again_and_finishes(tmp_path: Path, action: str) -> None:
    host, _ = control_plane(tmp_path)
    assert host.run(render_script(), "backup").returncode == 0
    [name] = archives(host)
    args = ["backup"] if action == "backup" else [f"restore={BACKUPS}/{name}"]
    host.path("/tmp/steps").unlink(missing_ok=True)
    assert host.run(interruptible(), *args).returncode == 0
    total = int(host.read("/tmp/steps"))
    assert total >= 5
    for stop in range(1, total + 1):
        host.path("/tmp/steps").unlink(missing_ok=True)
        cut = host.run(interruptible(), *args, env={"STOP_AT": str(stop)})
        assert cut.returncode != 0 and f"interrupted at step {stop}" in cut.stderr
        again = host.run(render_script(), *args)
        assert again.returncode == 0, f"step {stop}: {again.stderr}"
        if action == "restore":
            assert "revision 4242" in host.read("/var/lib/etcd/member/snap/db")
            assert host.exists("/etc/kubernetes/manifests/etcd.yaml") and not host.exists("/var/lib/kubeinit/restore")
        names = archives(host)
        assert not [n for n in names if not n.endswith(".tar.gz")], f"step {stop}: leftovers {names}"
