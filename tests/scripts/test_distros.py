"""The distribution matrix: the installer, end to end, once per OS the README names and per architecture, in a
root shaped by that OS's facts (tests/support/distros/): its os-release, cgroup version, uname, and what its
repositories offer. The Debian rows run in their own debootstrapped root (bullseye, bookworm, trixie); the
others in Debian 12's. Each run's decisions are asserted: which containerd from which repository, or the refusal.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.distros import ARCHES, DISTROS, distro_facts
from tests.support.rootfs import only_preflight_reads

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

QUERY = {"kubernetes_version": "1.36"}
PIN = "2.2.6"  # app.settings: containerd_version
ROWS = [(name, arch) for name in DISTROS for arch in ARCHES]


def os_release(facts: dict) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in facts["os_release"].splitlines() if "=" in line)
    return {key: value.strip('"') for key, value in pairs}


@pytest.mark.parametrize(("name", "arch"), ROWS, ids=[f"{n}-{a}" for n, a in ROWS])
def test_each_distribution_gets_docker_containerd_or_a_true_remedy(tmp_path: Path, name: str, arch: str) -> None:
    from tests.support.rootfs import Machine

    facts = distro_facts(name)
    release = os_release(facts)
    host = Machine(tmp_path, distro=name, arch=arch)
    result = host.run(render_script(**QUERY))
    assert f"preflight pass:    architecture: {arch}" in result.stderr
    assert f"preflight info:    kernel: {facts['kernel'][arch]}" in result.stderr
    assert f"preflight pass:    os: {release['PRETTY_NAME']} ({facts['family']} family)" in result.stderr

    if facts["cgroup"] == 1:  # the RHEL 8 family: the kubelet of 1.35+ would not start; nothing is changed
        assert result.returncode == 1
        assert ("preflight FAIL:    cgroup: v1: kubelet 1.36 refuses to start on cgroup v1 -> switch to cgroup v2: "
                "grubby --update-kernel=ALL --args=systemd.unified_cgroup_hierarchy=1") in result.stderr
        assert host.changes() == {} and only_preflight_reads(host, also=("uname",))
        return

    assert result.returncode == 0, result.stderr
    installed = dict(line.split() for line in host.read("/var/lib/kubeinit-stubs/packages").splitlines())
    offered = [v for v in facts["repository"]["containerd.io"] if v.startswith(PIN + "-")]
    assert installed["containerd.io"] == offered[-1]  # this release's build of the pinned version
    assert "containerd" not in installed  # never the distribution's own
    assert f"containerd {PIN}" in result.stderr
    if facts["family"] == "debian":
        assert host.read("/etc/apt/sources.list.d/docker.list").splitlines()[-1] == (
            f"deb [arch={arch} signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/"
            f"{release['ID']} {release['VERSION_CODENAME']} stable")
        assert f"apt-get install -y -q --no-install-recommends containerd.io={PIN}-*" in host.commands()
    else:
        directory = "rhel" if release["ID"] == "rhel" else "centos"
        major = release["VERSION_ID"].split(".")[0]
        repo = host.read("/etc/yum.repos.d/docker-ce.repo")
        assert f"baseurl=https://download.docker.com/linux/{directory}/{major}/$basearch/stable" in repo
        assert "gpgcheck=1" in repo and f"gpgkey=https://download.docker.com/linux/{directory}/gpg" in repo
        assert f"dnf install -y -q containerd.io-{PIN}" in host.commands()


DISTRIBUTION_CONTAINERD = [n for n in DISTROS if distro_facts(n)["repository"]["containerd"]]


@pytest.mark.parametrize("name", DISTRIBUTION_CONTAINERD)
def test_the_distributions_own_containerd_already_installed_is_refused_with_the_remedy(tmp_path: Path, name: str) -> None:
    from tests.support.rootfs import Machine

    facts = distro_facts(name)
    version = facts["repository"]["containerd"]
    host = Machine(tmp_path, distro=name, packages={"containerd": version})
    result = host.run(render_script(**QUERY))
    assert result.returncode == 1  # every Debian and Ubuntu ships 1.x: Kubernetes 1.36 needs 2.0
    upstream = version.split("~")[0].split("-")[0]
    assert (f"preflight FAIL:    containerd: {upstream} (containerd {version}) cannot run Kubernetes 1.36, which needs "
            "containerd 2.0.0 or later") in result.stderr
    assert "own containerd (see first what goes with it: apt-get -s remove containerd)" in result.stderr
    assert host.changes() == {}  # refused in preflight, before any change


def test_the_facts_read_as_the_weave_backend_detection_needs_them() -> None:
    facts = distro_facts("rocky9")
    assert facts["iptables"] == {"version_output": "iptables v1.8.10 (nf_tables)", "version": "1.8.10",
                                 "backend": "nf_tables"}
    assert facts["firewall"] == "firewalld (active)" and distro_facts("ubuntu2404")["firewall"] == "ufw (inactive)"
    with pytest.raises(KeyError, match="no facts file"):
        distro_facts("centos7")


@pytest.mark.parametrize("name", [n for n in DISTROS if distro_facts(n)["cgroup"] == 1])
def test_the_rhel_8_family_installs_once_switched_to_cgroup_v2(tmp_path: Path, name: str) -> None:
    from tests.support.rootfs import Machine

    host = Machine(tmp_path, distro=name)
    host.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")  # after grubby, reboot
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    directory = "rhel" if name.startswith("rhel") else "centos"
    assert f"baseurl=https://download.docker.com/linux/{directory}/8/$basearch/stable" in host.read(
        "/etc/yum.repos.d/docker-ce.repo")
    assert "containerd.io 2.2.6-1.el8" in host.read("/var/lib/kubeinit-stubs/packages")
