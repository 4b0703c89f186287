"""Signed stand-ins for pkgs.k8s.io's and Docker's RPM repositories and Rocky Linux 9's own, for a test host's real
dnf and rpm (the RHEL family's bundle builder and air-gapped installs: tests/support/bundle.py).

    repos = RpmRepositories(tmp_path / "repos")     # real .rpm files: rpmbuild, rpmsign, createrepo_c
    host = Machine(tmp_path / "host", os_release="rocky9", root_packages=DNF_ROOT, real=REAL_DNF)
    repos.attach(host)                              # the names, CA and server (aptrepo.Repositories), Rocky's .repo and key
    repos.install(host, "libseccomp")               # what the host has already, in its real rpm database

The repositories are laid out as the real ones are: pkgs.k8s.io's "baseurl=https://pkgs.k8s.io/core:/stable:/vMINOR/rpm/"
with its key at rpm/repodata/repomd.xml.key (kubernetes.io's kubeadm install guide, kubernetes.repo); Docker's
"https://download.docker.com/linux/centos/$releasever/$basearch/stable" with its key at /linux/centos/gpg (Docker's
docker-ce.repo); Rocky's BaseOS and AppStream under https://dl.rockylinux.org/pub/rocky/9/, checked with the key the
host holds in /etc/pki/rpm-gpg (rocky-repos' rocky.repo, in its baseurl form). Each package is signed by the test's
key (rpmsign, with the real gpg) and indexed by createrepo_c, so dnf resolves and downloads as it does, and rpmkeys
verifies the signatures itself.

The packages stand in for the real ones, with their names, versions and Requires (each table cites its source), and
with scriptlets that keep the stubs' package state as the real rpm changed it (as aptrepo.maintainer_scripts does
for dpkg). Debian's dnf (4.14) and rpm (4.18) are RHEL 9's own versions of both.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.aptrepo import ARCH, DOCKER, K8S, ROCKY, Repositories, _run
from tests.support.rootfs import Machine

RPM_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}.get(ARCH, ARCH)
EL = "9"  # Rocky Linux 9 (tests/support/rootfs.py OS_RELEASES["rocky9"])
# The real dnf and rpm, with curl and gpg (the builder's key downloads): a Machine(real=REAL_DNF, root_packages=DNF_ROOT).
REAL_DNF = ("dnf", "rpm", "curl", "gpg")
# name, [epoch:]version-release, Requires (", "-joined), Provides.
# pkgs.k8s.io's per minor, as kubernetes/release cmd/krel/templates/latest/metadata.yaml gives them for both package
# formats (from 1.32: kubeadm and kubectl require nothing, kubelet kubernetes-cni >= 1.2.0; kubeadm stopped requiring
# cri-tools), release 150500.1.1 as the Open Build Service numbers them.
KUBE_RPMS = {"1.37": [(name, f"1.37.{patch}-150500.1.1", requires, "") for patch in ("2", "3") for name, requires in (
    ("kubeadm", ""), ("kubelet", "kubernetes-cni >= 1.2.0"), ("kubectl", ""))]
    + [("cri-tools", "1.37.0-150500.1.1", "", ""), ("kubernetes-cni", "1.7.1-150500.1.1", "", "")]}
# Docker's containerd.io for EL9: docker/containerd-packaging rpm/containerd.spec (Requires container-selinux
# >= 2:2.74 and libseccomp; Provides containerd and runc). 2.3.0 is newer than the pinned 2.2.6.
DOCKER_RPMS = [("containerd.io", version, "container-selinux >= 2:2.74, libseccomp", "containerd, runc")
               for version in ("2.2.6-3.1.el9", "2.3.0-1.el9")]
# Rocky Linux 9's own, in its two repositories: libseccomp (BaseOS), container-selinux (AppStream, epoch 3),
# rocky-release, whose Provides are how dnf finds $releasever (dnf.rpm.detect_releasever: system-release(releasever)),
# and bash, which holds /bin/sh, what every package's scriptlets require (rpmbuild adds "Requires(post): /bin/sh").
ROCKY_RPMS = {
    "BaseOS": [("bash", "5.1.8-9.el9", "", "/bin/sh"), ("libseccomp", "2.5.2-2.el9", "", ""),
               ("rocky-release", "9.4-1.7.el9", "", f"system-release, system-release(releasever) = {EL}")],
    "AppStream": [("container-selinux", "3:2.229.0-1.el9", "", "")],
}
ROCKY_KEY = "/etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-9"


def rpm_file_name(name: str, evr: str) -> str:
    """The file name the builds give a package: NAME-VERSION-RELEASE.ARCH.rpm (the epoch is not in it)."""
    return f"{name}-{evr.split(':', 1)[-1]}.{RPM_ARCH}.rpm"


def make_rpm(directory: Path, name: str, evr: str, requires: str = "", provides: str = "",
             files: dict[str, str] | None = None, scriptlets: bool = True) -> Path:
    """A real RPM package, built by rpmbuild, with only the Requires and Provides given (AutoReqProv: no). Its
    files (none by default: a stand-in must not replace the root's own) and, with scriptlets, a %post and %postun
    (which require /bin/sh) that keep the stubs' package state (rootfs STATE/packages, "NAME VERSION-RELEASE" as the rpm stub records it) and the commands it
    brings (rootfs BROUGHT)."""
    from tests.support.rootfs import _BRINGS, BROUGHT, STATE

    epoch, _, version_release = evr.rpartition(":")
    version, release = version_release.rsplit("-", 1)
    files = files or {}
    build = directory / f"build-{name}-{version_release}"
    build.mkdir(parents=True, exist_ok=True)
    lines = [f"Name: {name}", f"Version: {version}", f"Release: {release}", "Summary: kubeinit test package",
             "License: Apache-2.0", f"BuildArch: {RPM_ARCH}", "AutoReqProv: no"]
    lines += [f"Epoch: {epoch}"] * bool(epoch) + [f"Requires: {requires}"] * bool(requires)
    lines += [f"Provides: {provides}"] * bool(provides)
    lines += ["%description", f"{name} for the kubeinit tests", "%install"]
    for i, (path, content) in enumerate(files.items()):
        (build / f"file{i}").write_text(content)
        lines += [f"mkdir -p %{{buildroot}}{Path(path).parent}", f"install -m 0755 {build}/file{i} %{{buildroot}}{path}"]
    lines += ["%files", *files]
    if scriptlets:
        unlinks = " ".join(f"/usr/bin/{command}" for command, names in BROUGHT.items() if name in names)
        lines += ["%post", f"mkdir -p {STATE}", f"echo '{name} {version_release}' >>{STATE}/packages", _BRINGS,
                  f"brings '{name}'", "%postun", f'if [ "$1" = 0 ]; then sed -i "/^{name} /d" {STATE}/packages 2>/dev/null',
                  f"  rm -f {unlinks}" if unlinks else "  :", "fi"]
    spec = build / f"{name}.spec"
    spec.write_text("\n".join(lines) + "\n")
    subprocess.run(["rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {build / 'rpmbuild'}", "--define",
                    f"_rpmdir {directory}", "--define", "__os_install_post %{nil}", "--define", "_build_id_links none",
                    str(spec)], check=True, capture_output=True)
    return directory / RPM_ARCH / rpm_file_name(name, evr)


class RpmRepositories(Repositories):
    """The RPM repositories, on aptrepo.Repositories' signing key, certificates and server (see the module docstring)."""

    def __init__(self, directory: Path, kube: dict | None = None, docker: list | None = None,
                 rocky: dict | None = None, files: dict[str, dict[str, str]] | None = None,
                 unsigned: tuple[str, ...] = ()):
        """kube: {minor: [(name, evr, Requires, Provides)]}, docker: [...], rocky: {repository: [...]}; files: a
        package's files ({name: {path: content}}); unsigned: packages left without a signature."""
        self.unsigned = unsigned
        self.rpm_kube = KUBE_RPMS if kube is None else kube
        self.rpm_docker = DOCKER_RPMS if docker is None else docker
        self.rpm_rocky = ROCKY_RPMS if rocky is None else rocky
        super().__init__(directory, kube={}, docker={}, files=files)

    def _build(self) -> None:
        key = self.public_key()
        for minor, packages in self.rpm_kube.items():
            base = self.www / K8S / f"core:/stable:/v{minor}/rpm"
            self._repository(base, packages, RPM_ARCH)
            (base / "repodata/repomd.xml.key").write_bytes(key)
        self._repository(self.www / DOCKER / f"linux/centos/{EL}/{RPM_ARCH}/stable", self.rpm_docker, "Packages")
        (self.www / DOCKER / "linux/centos/gpg").write_bytes(key)
        for name, packages in self.rpm_rocky.items():
            self._repository(self.www / ROCKY / f"pub/rocky/{EL}/{name}/{RPM_ARCH}/os", packages, "Packages")

    def built(self, name: str) -> Path:
        """The signed .rpm file of the newest NAME the repositories hold."""
        return sorted((self.dir / "rpms").glob(f"{name}-[0-9]*.rpm"))[-1]

    def _repository(self, base: Path, packages: list, pool: str) -> None:
        """The packages under BASE/POOL, signed, and BASE/repodata (createrepo_c) indexing them."""
        (base / pool).mkdir(parents=True, exist_ok=True)
        built = self.dir / "rpms"
        for name, evr, requires, provides in packages:
            file = built / rpm_file_name(name, evr)
            if not file.exists():
                made = make_rpm(self.dir / "rpmbuild", name, evr, requires, provides, self.files.get(name))
                built.mkdir(exist_ok=True)
                if name not in self.unsigned:
                    _run("rpmsign", "--define", f"__gpg {shutil.which('gpg')}", "--define", f"_gpg_path {self.gnupg}",
                         "--define", f"_gpg_name {self._uid()}", "--addsign", str(made), stdin=subprocess.DEVNULL)
                made.rename(file)
            shutil.copy(file, base / pool / file.name)
        _run("createrepo_c", "--quiet", "--simple-md-filenames", str(base))

    def _uid(self) -> str:
        listing = _run("gpg", "--homedir", str(self.gnupg), "--with-colons", "--list-keys", text=True).stdout
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("uid:"))

    def attach(self, machine: Machine, mirror: bool = False) -> None:
        """As aptrepo.Repositories.attach, and the host's own repositories: Rocky's .repo file and key."""
        super().attach(machine, mirror)
        base = f"https://{ROCKY}/pub/rocky/{EL}"
        machine.write("/etc/yum.repos.d/rocky.repo", "".join(
            f"[{name.lower()}]\nname=Rocky Linux {EL} - {name}\nbaseurl={base}/{name}/$basearch/os/\ngpgcheck=1\n"
            f"enabled=1\ncountme=1\ngpgkey=file://{ROCKY_KEY}\n\n" for name in self.rpm_rocky))
        machine.write(ROCKY_KEY, self.public_key().decode())
        # Debian's dnf-plugins-core enables its 'local' plugin, which RHEL ships apart (python3-dnf-plugin-local) and
        # off: it would run createrepo_c after every transaction.
        machine.write("/etc/dnf/plugins/local.conf", "[main]\nenabled=0\n")

    def install(self, machine: Machine, *names: str) -> None:
        """NAMES installed on MACHINE before the test, by its real rpm (as the host's own packages: the signing
        key imported first, as Rocky's is on a real host)."""
        machine.write(ROCKY_KEY, self.public_key().decode())
        machine.path("/root/preinstalled").mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(self.built(name), machine.path("/root/preinstalled"))
        machine.prepare(f"rpm --import {ROCKY_KEY} && rpm -i /root/preinstalled/*.rpm 2>&1 && rm -r /root/preinstalled")
