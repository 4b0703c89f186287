"""The installer and the join script, run end to end in a debootstrapped Debian 12 root.

Only what needs a real machine or cluster is stubbed (tests/support/rootfs.py); files, awk, sed, ip,
ss, bash and the scripts' own logic are real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from app.params import canonical_query, parse_pairs
from tests.support import render_script
from tests.support.rootfs import TOKEN_GENERATED

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

QUERY = {"pod_cidr": "10.244.0.0/16", "service_cidr": "10.100.0.0/16", "kubernetes_version": "1.36"}
FSTAB = "UUID=0a1b / ext4 errors=remount-ro 0 1\n/swap.img none swap sw 0 0\n"
TOKEN = "abcdef.0123456789abcdef"
HASH = "sha256:" + "ab" * 32


def machine(tmp_path: Path, **kwargs):
    from tests.support.rootfs import Machine

    host = Machine(tmp_path, swaps="/swap.img file 1048572 0 -2\n", **kwargs)
    host.write("/etc/fstab", FSTAB)
    return host


def changing_calls(host) -> list[list[str]]:
    """The stubbed calls, without the firewall's read-only queries (preflight asks them)."""
    return [c for c in host.calls() if c[:2] not in (["firewall-cmd", "--state"], ["ufw", "status"])]


def in_order(commands: list[str], expected: list[str]) -> list[str]:
    """The expected prefixes not found in this order among the commands (empty: all found)."""
    rest = iter(commands)
    return [want for want in expected if not any(c.startswith(want) for c in rest)]


@pytest.fixture
def installed(tmp_path: Path):
    host = machine(tmp_path)
    result = host.run(render_script(**QUERY), "cluster-domain=k8s.internal")
    assert result.returncode == 0, result.stderr
    return host, result


def test_install_writes_the_host_and_cluster_files(installed) -> None:
    host, _ = installed
    assert "net.ipv4.ip_forward = 1" in host.read("/etc/sysctl.d/99-kubeinit.conf")
    assert host.read("/etc/modules-load.d/kubeinit.conf").split("\n")[1:3] == ["overlay", "br_netfilter"]
    assert host.read("/etc/fstab") == FSTAB.replace("/swap.img", "#kubeinit-swap# /swap.img")
    assert host.read("/etc/apt/sources.list.d/kubernetes.list") == (
        "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.36/deb/ /\n"
    )
    assert host.exists("/etc/apt/keyrings/kubernetes-apt-keyring.gpg")
    containerd = host.read("/etc/containerd/config.toml")
    assert "SystemdCgroup = true" in containerd and "SystemdCgroup = false" not in containerd
    assert "plugins.'io.containerd.cri.v1.runtime'" in containerd and "disabled_plugins = []" in containerd
    assert "sandbox = 'registry.k8s.io/pause:3.10.1'" in containerd  # kubeadm's, not containerd's 3.10
    assert host.read("/etc/apt/sources.list.d/docker.list").endswith(
        "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/debian bookworm stable\n")
    assert "runtime-endpoint: unix:///run/containerd/containerd.sock" in host.read("/etc/crictl.yaml")
    docs = {d["kind"]: d for d in yaml.safe_load_all(host.read("/etc/kubeinit/kubeadm.yaml"))}
    assert docs["ClusterConfiguration"]["networking"] == {
        "podSubnet": "10.244.0.0/16", "serviceSubnet": "10.100.0.0/16", "dnsDomain": "k8s.internal"}
    assert docs["ClusterConfiguration"]["kubernetesVersion"] == "v1.36.3"  # the installed kubeadm's patch
    assert docs["InitConfiguration"]["localAPIEndpoint"]["advertiseAddress"] == "10.0.0.5"  # default route's
    assert docs["KubeletConfiguration"]["clusterDNS"] == ["10.100.0.10"]
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    assert host.path("/etc/kubeinit/kubeadm.yaml").stat().st_mode & 0o777 == 0o600
    assert host.read("/root/.kube/config") == host.read("/etc/kubernetes/admin.conf")
    assert host.path("/root/.kube/config").stat().st_mode & 0o777 == 0o600


def test_install_calls_the_commands_in_order(installed) -> None:
    host, _ = installed
    missing = in_order(host.commands(), [
        "sysctl -p /etc/sysctl.d/99-kubeinit.conf",
        "modprobe overlay",
        "modprobe br_netfilter",
        "swapoff -a",
        "curl -fsSL --retry 3 -o",
        "gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg",
        "apt-get update",
        "apt-get install -y -q --no-install-recommends kubelet kubeadm kubectl",
        "apt-mark hold kubelet kubeadm kubectl",
        "systemctl enable --now kubelet",
        "gpg --batch --yes --dearmor -o /etc/apt/keyrings/docker.gpg",
        "apt-get update",
        "apt-get install -y -q --no-install-recommends containerd.io=2.2.6-*",
        "containerd --version",
        "kubeadm config images list --kubernetes-version v1.36.3 --image-repository registry.k8s.io",
        "containerd config default",
        "systemctl enable --now containerd",
        "kubeadm token generate",  # the run's one join token, given to kubeadm init in a private file
        "kubeadm init --config /tmp/",
        "kubectl get --raw=/readyz",
        "kubectl get nodes",
    ])
    assert not [c for c in host.commands() if c.startswith("kubeadm token create")]
    assert missing == []
    assert any(c.endswith("https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key") for c in host.commands())


def test_install_prints_the_join_command_with_the_resolved_settings(installed) -> None:
    _, result = installed
    # The flag (cluster-domain) joins the query's options; the version is pinned to the control plane's patch.
    assert ("sudo sh -c 'umask 077 && rm -f /root/kubeinit-join && cat >/root/kubeinit-join'\n\n" in result.stdout)
    assert (f"\n\napi-server=10.0.0.5:6443\ntoken={TOKEN_GENERATED}\nca-cert-hash=sha256:{'0' * 62}aa\n"
            "iptables-backend=nft\n\n  3. Run (the join reads the file and removes it once the host has joined):\n\n"
            "curl -sSL 'http://kubeinit.test:8000/kubernetes-node-join?kubernetes_version=1.36.3&pod_cidr=10.244.0.0/16"
            "&service_cidr=10.100.0.0/16&cluster_domain=k8s.internal' | sudo bash -s join-file=/root/kubeinit-join\n"
            ) in result.stdout
    assert "The token lasts 24 hours" in result.stdout
    assert "kubeadm token create --print-join-command" in result.stdout


def test_a_second_run_changes_nothing_and_never_reinitialises(installed) -> None:
    host, _ = installed
    before, calls_before = host.snapshot(), len(host.calls())
    result = host.run(render_script(**QUERY), "cluster-domain=k8s.internal")
    assert result.returncode == 0, result.stderr
    assert host.snapshot() == before
    again = [" ".join(c) for c in host.calls()[calls_before:]]
    assert not [c for c in again if c.startswith(("kubeadm init", "apt-get", "swapoff", "modprobe", "curl", "gpg",
                                                  "systemctl enable", "systemctl restart", "sysctl -p"))]
    assert "this host runs a cluster already, it is not initialised again" in result.stderr
    assert "kubelet kubeadm kubectl 1.36.3-1.1: installed" in result.stderr
    assert "token create" in " ".join(again)  # a fresh join command every run


def test_a_rerun_with_other_settings_warns_and_keeps_the_cluster(installed) -> None:
    host, _ = installed
    result = host.run(render_script(**QUERY), "cluster-domain=other.internal")
    assert result.returncode == 0, result.stderr
    assert "the settings differ from those the cluster was made with" in result.stderr
    assert "k8s.internal" in host.read("/etc/kubeinit/kubeadm.yaml")
    assert not [c for c in host.commands() if c.startswith("kubeadm init")][1:]


def test_dry_run_writes_nothing_and_shows_the_commands(tmp_path: Path) -> None:
    host = machine(tmp_path)
    result = host.run(render_script(**QUERY), "dry-run", "private-address=10.0.0.5", "public-address=k8s.example.com")
    assert result.returncode == 0, result.stderr
    assert host.changes() == {}
    # The join command carries the cluster's settings, not this host's addresses.
    assert ("\napi-server=API:6443\ntoken=TOKEN\nca-cert-hash=sha256:HASH\niptables-backend=nft\n\n  3. Run (the join reads the file and removes it once the host has joined):\n\n"
            "curl -sSL 'http://kubeinit.test:8000/kubernetes-node-join?kubernetes_version=1.36&pod_cidr=10.244.0.0/16"
            "&service_cidr=10.100.0.0/16' | sudo bash -s join-file=/root/kubeinit-join\n") in result.stdout
    assert "+ write /etc/sysctl.d/99-kubeinit.conf" in result.stdout
    assert "+ kubeadm init --config </etc/kubeinit/kubeadm.yaml plus a new bootstrap token" in result.stdout
    assert "+ 'swapoff' '-a'" in result.stdout
    assert "+ 'sysctl' '-p' '/etc/sysctl.d/99-kubeinit.conf'" in result.stdout
    assert "+ 'apt-mark' 'hold' 'kubelet' 'kubeadm' 'kubectl'" in result.stdout
    mutating = [c for c in host.commands() if not c.startswith(
        ("dpkg-query", "sysctl -n", "systemctl is-", "kubeadm version", "apt-mark showhold", "containerd --version",
         "kubectl --request-timeout=10s", "firewall-cmd --state", "ufw status"))]  # the network part's reads (network_read)
    assert mutating == []


def test_rhel_family_takes_the_dnf_path(tmp_path: Path) -> None:
    host = machine(tmp_path, os_release="rocky9")
    host.write("/etc/selinux/config", "SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    result = host.run(render_script(kubernetes_version="1.37.2"))
    assert result.returncode == 0, result.stderr
    repo = host.read("/etc/yum.repos.d/kubernetes.repo")
    assert "baseurl=https://pkgs.k8s.io/core:/stable:/v1.37/rpm/" in repo
    assert "gpgcheck=1" in repo and "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni" in repo
    docker = host.read("/etc/yum.repos.d/docker-ce.repo")
    assert "baseurl=https://download.docker.com/linux/centos/9/$basearch/stable" in docker and "gpgcheck=1" in docker
    assert host.read("/etc/selinux/config").startswith("SELINUX=permissive\n")
    commands = host.commands()
    assert in_order(commands, [
        "setenforce 0",
        "dnf install -y -q --disableexcludes=kubernetes kubelet-1.37.2-* kubeadm-1.37.2-* kubectl-1.37.2-*",
        "dnf install -y -q containerd.io-2.2.6",
        "systemctl enable --now containerd",
        "kubeadm init",
    ]) == []
    assert not [c for c in commands if c.startswith(("apt-get", "apt-mark", "dpkg-query", "gpg"))]
    assert not host.exists("/etc/apt/sources.list.d/kubernetes.list")


def test_reset_removes_what_the_install_added(installed) -> None:
    host, _ = installed
    host.write("/etc/cni/net.d/10-weave.conflist", "{}\n")
    refused = host.run(render_script(**QUERY), "reset")
    assert refused.returncode == 1 and "run again with 'yes'" in refused.stderr
    assert host.exists("/etc/sysctl.d/99-kubeinit.conf")
    result = host.run(render_script(**QUERY), "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert "kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock" in host.commands()
    for path in ("/etc/sysctl.d/99-kubeinit.conf", "/etc/modules-load.d/kubeinit.conf", "/etc/kubeinit",
                 "/etc/apt/sources.list.d/kubernetes.list", "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
                 "/etc/cni/net.d/10-weave.conflist", "/root/.kube/config", "/etc/kubernetes/admin.conf"):
        assert not host.exists(path), path
    assert host.read("/etc/fstab") == FSTAB
    # What is left: the packages (held, said so) and containerd's own config.
    left = {p for p, d in host.changes().items() if d != "deleted" and not p.startswith("/var/lib/kubeinit-stubs/")}
    # containerd.io's config and binary, and cri-tools' crictl
    assert left == {"/etc/containerd/config.toml", "/usr/bin/containerd", "/usr/bin/crictl"}
    for path in ("/etc/apt/sources.list.d/docker.list", "/etc/apt/keyrings/docker.gpg", "/etc/crictl.yaml"):
        assert not host.exists(path), path
    assert "stay installed" in result.stderr


def test_join_prepares_the_host_the_same_way_and_runs_kubeadm_join(tmp_path: Path) -> None:
    host = machine(tmp_path)
    script = render_script("scripts/kubernetes-node-join.sh.j2", **QUERY)
    result = host.run(script, "api-server=10.0.0.1", f"token={TOKEN}", f"ca-cert-hash={HASH}")
    assert result.returncode == 0, result.stderr
    commands = host.commands()
    assert in_order(commands, [
        "swapoff -a",
        "apt-get install -y -q --no-install-recommends kubelet kubeadm kubectl",
        "apt-mark hold kubelet kubeadm kubectl",
        "apt-get install -y -q --no-install-recommends containerd.io=2.2.6-*",
        "kubeadm join --config /tmp/",  # the token in a 0600 JoinConfiguration (tests/lib/test_join.py)
    ]) == []
    assert not [c for c in commands if c.startswith(("kubeadm init", "kubeadm token"))]
    assert "SystemdCgroup = true" in host.read("/etc/containerd/config.toml")
    assert "v1.36/deb/" in host.read("/etc/apt/sources.list.d/kubernetes.list")
    assert TOKEN not in result.stderr  # the token is never logged
    # the one command that proves the pod network to and from the new host, on the control plane
    assert ("on the control plane, run\n  curl -sSL 'http://kubeinit.test:8000/kubernetes-troubleshoot?"
            f"{canonical_query(parse_pairs(QUERY.items()))}' | sudo bash\n") in result.stdout
    again = host.run(script, "api-server=10.0.0.1", f"token={TOKEN}", f"ca-cert-hash={HASH}")
    assert again.returncode == 0 and "not joining again" in again.stderr
    assert len([c for c in host.commands() if c.startswith("kubeadm join")]) == 1


def test_join_without_its_flags_stops_before_any_change(tmp_path: Path) -> None:
    host = machine(tmp_path)
    result = host.run(render_script("scripts/kubernetes-node-join.sh.j2"), "api-server=10.0.0.1")
    assert result.returncode == 1
    assert "missing token ca-cert-hash" in result.stderr
    # the way to fresh steps keeps the token out of argv and history: no 'kubeadm join --token ...' to paste
    assert "run kubernetes-init again on the control plane" in result.stderr and "print-join-command" not in result.stderr
    assert host.changes() == {} and changing_calls(host) == []


def test_join_dry_run_shows_kubeadm_join_and_writes_nothing(tmp_path: Path) -> None:
    host = machine(tmp_path)
    script = render_script("scripts/kubernetes-node-join.sh.j2")
    result = host.run(script, "api-server=cp.example.com", f"token={TOKEN}", f"ca-cert-hash={HASH}", "dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ kubeadm join --config <JoinConfiguration for cp.example.com:6443, with the token" in result.stdout
    assert host.changes() == {}
    assert TOKEN not in result.stderr


def test_a_failed_kubeadm_init_says_what_to_do_next(tmp_path: Path) -> None:
    host = machine(tmp_path, behaviour={"kubeadm": 'case $1 in version) exit 127 ;; init) echo "[ERROR Port-6443]" >&2; exit 1 ;; esac'})
    result = host.run(render_script())
    assert result.returncode == 1
    assert "kubeadm init failed (its messages are above)" in result.stderr and "'reset yes'" in result.stderr
    assert not [c for c in host.commands() if c.startswith(("kubectl", "kubeadm token create"))]


def test_a_joined_node_resets_too(tmp_path: Path) -> None:
    host = machine(tmp_path)
    script = render_script("scripts/kubernetes-node-join.sh.j2")
    assert host.run(script, "api-server=10.0.0.1", f"token={TOKEN}", f"ca-cert-hash={HASH}").returncode == 0
    result = host.run(script, "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert "kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock" in host.commands()
    assert not host.exists("/etc/kubernetes/kubelet.conf")
    assert not host.exists("/etc/sysctl.d/99-kubeinit.conf") and host.read("/etc/fstab") == FSTAB
