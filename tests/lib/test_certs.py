"""Certificates: kubeadm's expiry report with a warning within 30 days (for troubleshoot), and the
renew-certs action (kubeadm certs renew all, then the static control-plane pods restarted)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support import render_script, run_bash, with_body
from tests.support.cluster import control_plane, in_order, since
from tests.support.rootfs import CLUSTER, DEFAULT_BEHAVIOUR

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]


def report(host):
    return host.run(with_body(render_script(), "certs_report"))


@pytest.mark.parametrize(("residual", "warned", "line"), [
    ("364d", False, "No certificate expires within 30 days."),
    ("29d", True, "Expires in 29d: apiserver"),
    ("23h", True, "Expires in 23h: admin.conf"),
    ("<invalid>", True, "EXPIRED: etcd-server"),
])
def test_the_report_warns_within_30_days(tmp_path: Path, residual: str, warned: bool, line: str) -> None:
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/residual", residual + "\n")
    result = report(host)
    assert result.returncode == (1 if warned else 0), result.stdout + result.stderr
    assert "RESIDUAL TIME" in result.stdout  # kubeadm's own table first
    assert line in result.stdout
    assert ("sudo bash -s renew-certs" in result.stdout) == warned
    assert "Expires in 9y" not in result.stdout  # the CAs' ten years are fine


def test_renew_certs_renews_and_restarts_the_control_plane_pods(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/residual", "10d\n")
    start = len(host.calls())
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    commands = since(host, start)
    assert in_order(commands, ["kubeadm certs renew all", "crictl ps -q --name ^kube-apiserver$",
                               "crictl ps -q --name ^etcd$", "kubectl get --raw=/readyz",
                               "kubeadm certs check-expiration"]) == []
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        assert host.exists(f"/etc/kubernetes/manifests/{component}.yaml")  # back where the kubelet runs them
    assert not host.exists("/etc/kubeinit/parked-manifests")
    assert "364d" in result.stdout and "control-plane pods restarted" in result.stderr


def test_renew_certs_waits_with_admin_conf_and_refreshes_root_kubeconfig(tmp_path: Path) -> None:
    # root's ~/.kube/config is the install's copy: after the renewal it holds the old client certificate,
    # so the waits must not use it, and it follows admin.conf's renewal
    host, _ = control_plane(tmp_path)
    old = host.read("/etc/kubernetes/admin.conf")
    assert host.read("/root/.kube/config") == old
    host.behave("kubectl", 'printf \'%s\\n\' "${KUBECONFIG:-unset}" >>/var/lib/kubeinit-stubs/kubectl-kubeconfig\n'
                + DEFAULT_BEHAVIOUR["kubectl"])
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    used = set(host.read("/var/lib/kubeinit-stubs/kubectl-kubeconfig").split())
    assert used == {"/etc/kubernetes/admin.conf"}
    assert host.read("/etc/kubernetes/admin.conf") != old  # kubeadm renewed its client certificate
    assert host.read("/root/.kube/config") == host.read("/etc/kubernetes/admin.conf")


def test_renew_certs_keeps_a_root_kubeconfig_that_is_not_kubeinits(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write("/root/.kube/config", "apiVersion: v1\nkind: Config\n# another cluster's\n", mode=0o600)
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    assert host.read("/root/.kube/config") == "apiVersion: v1\nkind: Config\n# another cluster's\n"
    assert "/root/.kube/config: kept as it is" in result.stderr


def test_renew_certs_waits_for_the_control_planes_own_containers_only(tmp_path: Path) -> None:
    # crictl's --name is an unanchored regular expression across every namespace: a workload's etcd-backup
    # container matched "etcd", the wait ran out and the run died with the control plane's manifests parked
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/containers", "etcd-backup default\nkube-scheduler-exporter monitoring\n")
    start = len(host.calls())
    began = time.monotonic()
    result = host.run(render_script(), "renew-certs", timeout=200)
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert "crictl ps -q --name ^etcd$ --label io.kubernetes.pod.namespace=kube-system" in since(host, start)
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        assert host.exists(f"/etc/kubernetes/manifests/{component}.yaml")
    assert took >= 20  # the manifests stay out the kubelet's fileCheckFrequency at least


def test_a_failing_crictl_stops_the_restart_with_the_manifests_back(tmp_path: Path) -> None:
    # crictl's error used to read as "stopped"; now it stops the run, which puts the manifests back first
    host, _ = control_plane(tmp_path)
    host.write(f"{CLUSTER}/crictl-down", "")
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 1
    assert "cannot tell whether the kubelet stopped kube-apiserver: crictl ps failed" in result.stderr
    assert "validate service connection" in result.stderr  # crictl's own reason
    assert "run renew-certs again" in result.stderr
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        assert host.exists(f"/etc/kubernetes/manifests/{component}.yaml")
    assert not host.exists("/etc/kubeinit/parked-manifests")
    host.path(f"{CLUSTER}/crictl-down").unlink()
    again = host.run(render_script(), "renew-certs")
    assert again.returncode == 0, again.stderr


def test_an_interrupted_restart_puts_the_manifests_back_on_the_next_run(tmp_path: Path) -> None:
    host, _ = control_plane(tmp_path)
    host.write("/etc/kubeinit/parked-manifests/kube-apiserver.yaml", "kind: Pod\n")
    host.path("/etc/kubernetes/manifests/kube-apiserver.yaml").unlink()
    result = host.run(render_script(), "renew-certs")
    assert result.returncode == 0, result.stderr
    assert host.exists("/etc/kubernetes/manifests/kube-apiserver.yaml")


def test_renew_certs_on_a_host_without_a_control_plane_says_so() -> None:
    result = run_bash(render_script(), "renew-certs", "dry-run", as_nobody=True)
    assert result.returncode == 1 and "this host is no control plane" in result.stderr
