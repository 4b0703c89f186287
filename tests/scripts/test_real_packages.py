"""The installer with the real apt-get, apt-mark, apt-cache, dpkg, curl and gpg of a Debian 12 root, against
signed HTTPS stand-ins for pkgs.k8s.io and download.docker.com (tests/support/aptrepo.py): apt's own
solver, version globs, holds and signature checks decide, not a stub's belief about them. The same for the
RHEL family with Debian's real dnf 4 and rpm in a Rocky-shaped root against signed RPM stand-ins
(tests/support/rpmrepo.py). The cluster's side (kubeadm, kubelet, kubectl, containerd's daemon, crictl) stays
stubbed, as everywhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.aptrepo import Repositories
from tests.support.aptrepo import dpkg_installed as installed
from tests.support.rootfs import CLUSTER, REAL_PACKAGING, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

KUBE_LIST = "/etc/apt/sources.list.d/kubernetes.list"
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"


def host_with(tmp_path: Path, **repositories) -> tuple[Machine, Repositories]:
    repos = Repositories(tmp_path / "repos", **repositories)
    host = Machine(tmp_path / "host", real=REAL_PACKAGING)
    repos.attach(host)
    return host, repos


def shell(host: Machine, command: str) -> str:
    result = host.run(command)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_exact_patch_comes_from_the_signed_repository_held_with_crictl_and_containerd(tmp_path: Path) -> None:
    host, repos = host_with(tmp_path)
    result = host.run(render_script(kubernetes_version="1.37.2"))
    assert result.returncode == 0, result.stderr
    packages = installed(host)
    # 1.37.3 is newer in the same repository: the glob kubeadm=1.37.2-* chose the patch asked for
    assert {p: packages.get(p) for p in ("kubeadm", "kubelet", "kubectl")} == dict.fromkeys(
        ("kubeadm", "kubelet", "kubectl"), "1.37.2-1.1")
    assert packages["kubernetes-cni"] == "1.7.1-1.1"  # kubelet's dependency, resolved by apt
    # kubeadm's package no longer brings crictl: the installer asked for cri-tools, and crictl answers
    assert packages["cri-tools"] == "1.37.0-1.1"
    assert shell(host, "command -v crictl") == "/usr/bin/crictl\n"
    assert packages["containerd.io"] == "2.2.6-1~debian.12~bookworm"  # the pinned one, not 1.7.27
    assert shell(host, "apt-mark showhold").split() == ["kubeadm", "kubectl", "kubelet"]
    # the keyring the real gpg dearmoured is the repository's key, which apt's gpgv checked InRelease with
    for keyring in (KEYRING, "/etc/apt/keyrings/docker.gpg"):
        assert f"fpr:::::::::{repos.fingerprint()}:" in shell(host, f"gpg --show-keys --with-colons {keyring}")
    assert "pkgs.k8s.io /core:/stable:/v1.37/deb/InRelease 200" in repos.requests()
    assert host.read(f"{CLUSTER}/version") == "v1.37.2\n"

    # a re-run downloads no package again and changes nothing apt keeps
    before = (host.read("/var/lib/dpkg/status"), host.read("/var/lib/apt/extended_states"))
    fetched = len(repos.requests())
    again = host.run(render_script(kubernetes_version="1.37.2"))
    assert again.returncode == 0, again.stderr
    assert not [r for r in repos.requests()[fetched:] if r.split()[1].endswith(".deb")]
    assert (host.read("/var/lib/dpkg/status"), host.read("/var/lib/apt/extended_states")) == before


@pytest.mark.parametrize("family", ["debian", "rhel"])
def test_a_patch_the_repository_lacks_stops_naming_what_it_offers_before_any_kube_package(tmp_path: Path, family) -> None:
    # apt-cache madison, or dnf list --showduplicates (pkg_offered), names the patches on offer
    host, _ = host_with(tmp_path) if family == "debian" else rocky_host(tmp_path)
    result = host.run(render_script(kubernetes_version="1.37.9"))
    assert result.returncode != 0
    assert ("pkgs.k8s.io has no kubernetes 1.37.9: it offers 1.37.2, 1.37.3; ask for one of them, or for "
            "kubernetes-version=1.37 (its newest)") in result.stderr
    kube = ("kubeadm", "kubelet", "kubectl")
    assert (not set(kube) & set(installed(host))) if family == "debian" else rpm_installed(host, *kube) == {}


def test_an_expired_repository_key_is_fetched_again_once_re_issued(tmp_path: Path) -> None:
    # pkgs.k8s.io's key expired and was re-issued (kubernetes/release#3818): a host that kept the old copy
    host, repos = host_with(tmp_path, key_expired=True)
    first = host.run(render_script(kubernetes_version="1.37.2"))
    assert first.returncode != 0
    assert "EXPKEYSIG" in first.stderr  # gpgv's verdict, through apt
    # the key fetched again is the expired one still: the run names where it came from, and stops
    assert ("[ERROR] apt-get update failed (above); the keys were fetched from "
            "https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key: ") in first.stderr
    assert not {"kubeadm", "kubelet", "kubectl"} & set(installed(host))
    repos.reissue_key()
    again = host.run(render_script(kubernetes_version="1.37.2"))
    assert again.returncode == 0, again.stderr
    assert installed(host)["kubeadm"] == "1.37.2-1.1"
    # the host kept the expired key; the re-run fetched the re-issued one when apt refused the index
    assert "fetching its key again" in again.stderr
    assert f"fpr:::::::::{repos.fingerprint()}:" in shell(host, f"gpg --show-keys --with-colons {KEYRING}")


def test_an_upgrade_moves_the_held_packages_with_the_real_apt(tmp_path: Path) -> None:
    host, _ = host_with(tmp_path)
    assert host.run(render_script(kubernetes_version="1.36")).returncode == 0
    assert installed(host)["kubeadm"] == "1.36.4-1.1"
    result = host.run(render_script(kubernetes_version="1.37.3"), "upgrade")
    assert result.returncode == 0, result.stderr
    packages = installed(host)
    assert {p: packages[p] for p in ("kubeadm", "kubelet", "kubectl")} == dict.fromkeys(
        ("kubeadm", "kubelet", "kubectl"), "1.37.3-1.1")
    assert shell(host, "apt-mark showhold").split() == ["kubeadm", "kubectl", "kubelet"]
    assert host.read(f"{CLUSTER}/version") == "v1.37.3\n"


def test_apts_lock_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    # unattended-upgrades on a first boot: a process holds dpkg's frontend and lists locks (fcntl locks, as apt's own
    # GetLock takes them, apt-pkg/contrib/fileutl.cc) for a few seconds; the real apt-get names it and exits 100
    host, _ = host_with(tmp_path)
    # it takes them once the installer has written its kernel modules file, just before its first apt-get
    holder = ("(until [ -e /etc/modules-load.d/kubeinit.conf ]; do sleep 0.02; done; exec python3 -c 'import fcntl, time\n"
              "files = [open(p, \"a\") for p in (\"/var/lib/dpkg/lock-frontend\", \"/var/lib/dpkg/lock\", \"/var/lib/apt/lists/lock\")]\n"
              "[fcntl.lockf(f, fcntl.LOCK_EX) for f in files]\ntime.sleep(5)') &\n")
    script = render_script(kubernetes_version="1.37.2").replace("_pkg_lock_interval=5", "_pkg_lock_interval=1")
    result = host.run(holder + script)
    assert result.returncode == 0, result.stderr
    # the wait quotes apt's own words, which name the holder as apt found it in /proc
    assert re.search(r"another package run holds apt's lock \(/var/lib/\S+lock\. It is held by process \d+ \(python3\)\): "
                     r"waiting up to 900s for it", result.stderr), result.stderr
    assert installed(host)["kubeadm"] == "1.37.2-1.1"


def test_a_re_issued_key_is_fetched_again_on_a_host_that_has_the_old_lists(tmp_path: Path) -> None:
    # with lists of the repository already, apt only warns about the signature and keeps the old index (exit 0)
    host, repos = host_with(tmp_path)
    assert host.run(render_script(kubernetes_version="1.37.2")).returncode == 0
    shell(host, "apt-mark unhold kubectl >/dev/null && apt-get remove -y -q kubectl >/dev/null")  # one to install again
    repos.reissue_key()
    again = host.run(render_script(kubernetes_version="1.37.2"))
    assert again.returncode == 0, again.stderr
    assert "An error occurred during the signature verification" in again.stderr  # apt's warning, exit 0
    assert "fetching its key again" in again.stderr
    assert f"fpr:::::::::{repos.fingerprint()}:" in shell(host, f"gpg --show-keys --with-colons {KEYRING}")
    assert installed(host)["kubectl"] == "1.37.2-1.1"


def rocky_host(tmp_path: Path):
    """A Rocky Linux 9 host (its shell and release installed) whose real dnf, rpm, curl and gpg reach the RPM
    stand-ins of pkgs.k8s.io, Docker's and Rocky's repositories."""
    from tests.support.rootfs import DNF_ROOT
    from tests.support.rpmrepo import REAL_DNF, RpmRepositories

    repos = RpmRepositories(tmp_path / "repos")
    host = Machine(tmp_path / "host", os_release="rocky9", root_packages=DNF_ROOT, real=REAL_DNF)
    repos.attach(host)
    repos.install(host, "bash", "rocky-release")
    return host, repos


def rpm_installed(host: Machine, *names: str) -> dict[str, str]:
    """{name: VERSION-RELEASE} of NAMES as the host's real rpm database has them (absent: not installed)."""
    result = host.run("rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE}\\n'", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    found = dict(line.split() for line in result.stdout.splitlines())
    return {name: found[name] for name in names if name in found}


def test_the_rhel_family_gets_the_exact_patch_and_the_pinned_containerd_from_dnf_held_by_the_exclude_line(tmp_path: Path) -> None:
    host, repos = rocky_host(tmp_path)
    result = host.run(render_script(kubernetes_version="1.37.2"))
    assert result.returncode == 0, result.stderr
    # dnf chose 1.37.2 over the newer 1.37.3 of the same repository, past the exclude line, with cri-tools and
    # kubelet's kubernetes-cni; Docker's containerd.io at the pinned 2.2.6 (not 2.3.0) with its dependencies from
    # Rocky's own repositories
    assert rpm_installed(host, "kubeadm", "kubelet", "kubectl", "cri-tools", "kubernetes-cni", "containerd.io",
                         "container-selinux", "libseccomp") == {
        "kubeadm": "1.37.2-150500.1.1", "kubelet": "1.37.2-150500.1.1", "kubectl": "1.37.2-150500.1.1",
        "cri-tools": "1.37.0-150500.1.1", "kubernetes-cni": "1.7.1-150500.1.1", "containerd.io": "2.2.6-3.1.el9",
        "container-selinux": "2.229.0-1.el9", "libseccomp": "2.5.2-2.el9"}
    assert shell(host, "command -v crictl") == "/usr/bin/crictl\n"
    # the exclude line holds them: dnf itself offers no upgrade of the kube packages, though 1.37.3 is there
    upgrades = host.run("dnf -q --cacheonly list --upgrades", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert not re.search(r"^(kubeadm|kubelet|kubectl)\.", upgrades.stdout, re.M), upgrades.stdout
    unheld = host.run("dnf -q --cacheonly --disableexcludes=kubernetes list --upgrades", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert re.search(r"^kubeadm\.\S+\s+1\.37\.3-150500\.1\.1\s", unheld.stdout, re.M), unheld.stdout
    assert "Error" not in upgrades.stderr and "Traceback" not in result.stderr
    assert any(r.startswith("pkgs.k8s.io /core:/stable:/v1.37/rpm/repodata/repomd.xml ") for r in repos.requests())
    # a re-run downloads no package again
    fetched = len(repos.requests())
    again = host.run(render_script(kubernetes_version="1.37.2"))
    assert again.returncode == 0, again.stderr
    assert not [r for r in repos.requests()[fetched:] if r.split()[1].endswith(".rpm")]

