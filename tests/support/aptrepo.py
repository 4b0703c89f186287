"""Signed HTTPS stand-ins for pkgs.k8s.io and download.docker.com, for a test host's real apt, dpkg, curl and gpg.

    repos = Repositories(tmp_path / "repos")          # the test's signing key and TLS certificates
    host = Machine(tmp_path / "host", real=REAL_PACKAGING)
    repos.attach(host)                                # the names, the CA, the server in each run's namespace
    repos.reissue_key()                               # pkgs.k8s.io's key re-issued: the index signed by a new one
    repos.requests()                                  # ["pkgs.k8s.io /core:/stable:/v1.37/deb/InRelease 200", ...]

The repositories are laid out as the real ones are (a flat repository per minor on pkgs.k8s.io, "deb
URL/core:/stable:/vMINOR/deb/ /", its key at Release.key; Docker's "deb URL/linux/debian CODENAME stable",
its key at /linux/debian/gpg), with a Release file listing each index's SHA256 and size, signed inline
(InRelease) and detached (Release.gpg) by the test's key, made by the real gpg here. The host's real apt
checks those signatures with gpgv against the keyring the installer dearmoured, and each package's hash
against the index (apt-secure(8)); curl and apt reach the server over TLS with a certificate of the test's
CA, which the host trusts (update-ca-certificates, the real one, run by attach()).

The packages are stand-ins carrying the real ones' names, versions and Depends (``KUBE_PACKAGES``,
``DOCKER_PACKAGES``, each citing its source), with maintainer scripts that keep the stubs' package state
as the real dpkg changed it (``maintainer_scripts``). With ``attach(machine, mirror=True)``, the host's apt
also reaches Debian's real mirror (deb.debian.org, as its /etc/apt/sources.list from debootstrap names it),
through a relay of the test process (``mirror_relay``): the bundle builder's tests resolve the Debian side
of their package set there, with Debian's own signed index and keyring (tests/support/bundle.py).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import platform
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from tests.support import BASE_URL
from tests.support.aptserve import pipe
from tests.support.rootfs import ADDRESS, MIRROR, SYSTEM_PATH, Machine

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
K8S, DOCKER = "pkgs.k8s.io", "download.docker.com"
ROCKY = "dl.rockylinux.org"  # Rocky Linux's own repositories (tests/support/rpmrepo.py)
# pkgs.k8s.io's packages per minor, (name, version, Depends), from kubernetes/release
# cmd/krel/templates/latest/metadata.yaml (from 1.32: kubeadm and kubectl depend on nothing, kubelet on
# kubernetes-cni >= 1.2.0) and kubelet/kubelet.spec (debbuild adds mount and util-linux; iptables is only
# recommended). Each minor's repository has its own cri-tools and kubernetes-cni.
KUBE_PACKAGES = {
    "1.36": [("kubeadm", "1.36.4-1.1", ""), ("kubelet", "1.36.4-1.1", "kubernetes-cni (>= 1.2.0), mount, util-linux"),
             ("kubectl", "1.36.4-1.1", ""), ("cri-tools", "1.36.0-1.1", ""), ("kubernetes-cni", "1.7.1-1.1", "")],
    "1.37": [(name, version, depends) for patch in ("2", "3") for name, version, depends in (
        ("kubeadm", f"1.37.{patch}-1.1", ""), ("kubelet", f"1.37.{patch}-1.1", "kubernetes-cni (>= 1.2.0), mount, util-linux"),
        ("kubectl", f"1.37.{patch}-1.1", ""))] + [("cri-tools", "1.37.0-1.1", ""), ("kubernetes-cni", "1.7.1-1.1", "")],
}
# Docker's containerd.io for Debian 12 (tests/support/distros/debian12.toml): docker/containerd-packaging
# debian/control (Depends ${shlibs:Depends}: the C library and libseccomp; Provides, Conflicts and Replaces
# containerd and runc).
DOCKER_PACKAGES = {"bookworm": [
    ("containerd.io", version, "libc6 (>= 2.34), libseccomp2 (>= 2.5.0)") for version in ("1.7.27-1", "2.2.6-1~debian.12~bookworm")]}
RELATIONS = {"containerd.io": "Provides: containerd, runc\nConflicts: containerd, runc\nReplaces: containerd, runc\n"}
DEBIAN = urllib.parse.urlsplit(MIRROR).hostname  # Debian's own mirror: reached only with attach(mirror=True)
_relay: Path | None = None


def mirror_relay() -> Path:
    """A unix socket of this test process (in the machine's own network) whose every connection is piped to
    Debian's mirror on port 80; a test host's server (aptserve.py) pipes its port 80 to it. Started once."""
    global _relay
    if _relay is None:
        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with socket.create_connection((DEBIAN, 80), timeout=120) as mirror:
                    pipe(self.request, mirror)

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        path = Path(tempfile.mkdtemp(prefix="kubeinit-mirror-")) / "relay.sock"
        threading.Thread(target=Server(str(path), Relay).serve_forever, daemon=True).start()
        _relay = path
    return _relay


def deb_file_name(name: str, version: str, arch: str = ARCH) -> str:
    return f"{name}_{version.split(':', 1)[-1]}_{arch}.deb"


def maintainer_scripts(name: str, version: str) -> dict[str, str]:
    """postinst and postrm for a test package that the real dpkg installs: they keep the stubs' package state
    (rootfs STATE/packages, which the stubbed kubeadm, kubelet and containerd read for their versions) and
    link the stubbed commands the package brings (rootfs BROUGHT: containerd, crictl), so the rest of the
    host answers as it does after the real package manager ran."""
    from tests.support.rootfs import _BRINGS, BROUGHT, STATE

    unlinks = [f"rm -f /usr/bin/{command}" for command, names in BROUGHT.items() if name in names]
    return {
        "/DEBIAN/postinst": "#!/bin/sh\nset -e\n[ \"$1\" = configure ] || exit 0\n"
                            f"mkdir -p {STATE}\necho '{name} {version}' >>{STATE}/packages\n{_BRINGS}\nbrings '{name}'\n",
        "/DEBIAN/postrm": "#!/bin/sh\ncase $1 in remove|purge)\n"
                          f"  sed -i '/^{name} /d' {STATE}/packages 2>/dev/null || true\n" + "".join(f"  {line}\n" for line in unlinks)
                          + ";;\nesac\nexit 0\n",
    }


def make_deb(directory: Path, name: str, version: str, depends: str = "", files: dict[str, str] | None = None,
             arch: str = ARCH, relations: str = "") -> Path:
    """A real Debian package, built by dpkg-deb --build (relations: more control lines, "Conflicts: ...\\n")."""
    root = directory / f"build-{name}-{version.replace(':', '_')}"
    (root / "DEBIAN").mkdir(parents=True)
    control = f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: kubeinit tests <t@example.com>\n"
    if depends:
        control += f"Depends: {depends}\n"
    control += relations
    control += f"Description: {name} for the kubeinit air-gap tests\n"
    (root / "DEBIAN/control").write_text(control)
    for path, content in (files or {}).items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(0o755)
    out = directory / deb_file_name(name, version, arch)
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)], check=True, capture_output=True)
    return out


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, **kwargs)


def _stanza(deb: Path, filename: str) -> str:
    data = deb.read_bytes()
    fields = _run("dpkg-deb", "-f", str(deb), text=True).stdout.rstrip("\n")
    return (f"{fields}\nFilename: {filename}\nSize: {len(data)}\nMD5sum: {hashlib.md5(data).hexdigest()}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n")


class Repositories:
    """The repositories, their signing key, and the TLS server (see the module docstring)."""

    def __init__(self, directory: Path, kube: dict | None = None, docker: dict | None = None, *,
                 files: dict[str, dict[str, str]] | None = None,
                 relations: dict[str, str] | None = None, key_expired: bool = False):
        """kube: {minor: [(name, version, Depends)]}, docker: {codename: [...]}; files: a package's
        files ({name: {path: content}}); relations: a package's other control lines (Conflicts: ...)."""
        self.dir = directory
        self.www = directory / "www"
        self.kube = KUBE_PACKAGES if kube is None else kube
        self.docker = DOCKER_PACKAGES if docker is None else docker
        self.files = files or {}
        self.relations = RELATIONS if relations is None else relations
        self.log = directory / "requests.log"
        directory.mkdir(parents=True, exist_ok=True)
        self._tls()
        self._generation = 0
        self.gnupg = self._key(expired=key_expired)
        self._build()
        self._agent_stop()

    # -- keys and certificates -------------------------------------------------------------------------
    def _key(self, expired: bool = False) -> Path:
        """A new signing key (ed25519) in its own GnuPG home; an expired one was made a year ago, for a day."""
        self._generation += 1
        # Short: gpg-agent's socket lies in the home, and a unix socket's path has at most 107 characters.
        home = Path(tempfile.mkdtemp(prefix=f"kubeinit-gpg{self._generation}-"))
        fake = ["--faked-system-time", time.strftime("%Y%m%dT%H%M%S!", time.gmtime(time.time() - 365 * 86400))] if expired else []
        _run("gpg", "--homedir", str(home), "--batch", "--passphrase", "", *fake, "--quick-gen-key",
             f"kubeinit test repository {self._generation} <repository@kubeinit.test>", "ed25519", "sign", "1d" if expired else "never")
        self._fake = fake
        return home

    def _tls(self) -> None:
        self.ca, ca_key = self.dir / "ca.crt", self.dir / "ca.key"
        self.cert, self.cert_key = self.dir / "server.crt", self.dir / "server.key"
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(ca_key), "-out", str(self.ca), "-days", "2", "-subj", "/CN=kubeinit test CA")
        csr = self.dir / "server.csr"
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(self.cert_key), "-out", str(csr), "-subj", f"/CN={K8S}")
        ext = self.dir / "server.ext"
        ext.write_text(f"subjectAltName=DNS:{K8S},DNS:{DOCKER},DNS:{ROCKY}\nextendedKeyUsage=serverAuth\n")
        _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(self.cert), "-days", "2", "-extfile", str(ext))

    # -- the repositories ---------------------------------------------------------------------------------
    def _sign(self, release: Path) -> None:
        gpg = ["gpg", "--homedir", str(self.gnupg), "--batch", "--yes", *self._fake]
        _run(*gpg, "--clearsign", "-o", str(release.parent / "InRelease"), str(release))
        _run(*gpg, "--armor", "--detach-sign", "-o", str(release.parent / "Release.gpg"), str(release))

    def fingerprint(self) -> str:
        listing = _run("gpg", "--homedir", str(self.gnupg), "--with-colons", "--fingerprint", text=True).stdout
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))

    def public_key(self) -> bytes:
        return _run("gpg", "--homedir", str(self.gnupg), "--armor", "--export").stdout

    def _release(self, directory: Path, indexes: list[str], **fields: str) -> None:
        lines = [f"{k}: {v}" for k, v in {"Origin": "kubeinit tests", **fields,
                                           "Date": email.utils.formatdate(usegmt=True), "Architectures": ARCH}.items()]
        lines.append("SHA256:")
        for index in indexes:
            data = (directory / index).read_bytes()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {index}")
        (directory / "Release").write_text("\n".join(lines) + "\n")
        self._sign(directory / "Release")

    def _index(self, directory: Path, packages: list[tuple[str, str, str]], pool: str) -> str:
        """The .deb files under directory/pool and the Packages text naming them (relative to directory)."""
        (directory / pool).mkdir(parents=True, exist_ok=True)
        text = ""
        for name, version, depends in packages:
            deb = directory / pool / deb_file_name(name, version, ARCH)
            built = self.dir / "debs" / deb.name
            if not built.exists():
                built.parent.mkdir(exist_ok=True)
                make_deb(built.parent, name, version, depends, {**self.files.get(name, {}), **maintainer_scripts(name, version)},
                         arch=ARCH, relations=self.relations.get(name, ""))
            if not deb.exists():
                shutil.copy(built, deb)
            text += _stanza(deb, f"{pool}/{deb.name}")
        return text

    def _build(self) -> None:
        for minor, packages in self.kube.items():
            base = self.www / K8S / f"core:/stable:/v{minor}/deb"
            text = self._index(base, packages, ARCH)
            (base / "Packages").write_text(text)
            (base / "Packages.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
            self._release(base, ["Packages", "Packages.gz"], Label=f"isv:kubernetes:core:stable:v{minor}")
            (base / "Release.key").write_bytes(self.public_key())
        for codename, packages in self.docker.items():
            base = self.www / DOCKER / "linux/debian"
            self._suite(base, codename, "stable", packages, f"dists/{codename}/pool/stable/{ARCH}", "Docker CE")
            (base / "gpg").write_bytes(self.public_key())

    def _suite(self, base: Path, codename: str, component: str, packages: list, pool: str, label: str) -> None:
        """A "deb URL CODENAME COMPONENT" repository: dists/CODENAME/{InRelease,COMPONENT/binary-ARCH/Packages}."""
        dist = base / "dists" / codename
        index = f"{component}/binary-{ARCH}/Packages"
        (dist / index).parent.mkdir(parents=True, exist_ok=True)
        (dist / index).write_text(self._index(base, packages, pool))
        self._release(dist, [index], Label=label, Suite=codename, Codename=codename, Components=component)

    def site(self, host: str, path: str, data: str | bytes) -> None:
        """Another file the server answers: https://HOST/PATH, or http://HOST:8000/PATH (PATH?QUERY with a query)."""
        target = self.www / host / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)

    def reissue_key(self) -> None:
        """A new signing key (as pkgs.k8s.io re-issued its key when it expired, kubernetes/release#3818): every
        index signed again with it, and the new key published where the old one was."""
        self.gnupg = self._key()
        self._build()
        self._agent_stop()

    def _agent_stop(self) -> None:
        """The gpg-agent that signing started, stopped (the next signature starts another)."""
        _run("gpgconf", "--homedir", str(self.gnupg), "--kill", "gpg-agent")

    # -- a host --------------------------------------------------------------------------------------------
    def attach(self, machine: Machine, mirror: bool = False) -> None:
        """The repositories' names (and the test service's, kubeinit.test, and Debian's mirror) on MACHINE's
        address, its trust in the test CA (the real update-ca-certificates), and the server in each of its runs.
        mirror: port 80 there is piped to Debian's real mirror (mirror_relay); otherwise it is closed, and
        'apt-get update' meets the host's own archive as one warning."""
        hosts = machine.read("/etc/hosts") or ""
        machine.write("/etc/hosts", hosts + f"{ADDRESS}\t{K8S} {DOCKER} {ROCKY} {DEBIAN} {urllib.parse.urlsplit(BASE_URL).hostname}\n")
        # No resolver answers in the namespace: a closed port on loopback fails a lookup at once, where an
        # unreachable one times out.
        machine.write("/etc/resolv.conf", "nameserver 127.0.0.1\n")
        machine.write("/usr/local/share/ca-certificates/kubeinit-test-ca.crt", self.ca.read_text())
        machine.serve([sys.executable, "-I", str(Path(__file__).with_name("aptserve.py")), str(self.www), str(self.cert),
                       str(self.cert_key), ADDRESS, str(self.dir / "ready"), str(self.log),
                       *([str(mirror_relay())] if mirror else [])],
                      self.dir / "ready", self.dir / "server.log")
        machine.prepare("update-ca-certificates >/dev/null")

    def requests(self) -> list[str]:
        """The requests the server answered so far, "HOST PATH STATUS" each."""
        return self.log.read_text().splitlines() if self.log.exists() else []


def dpkg_installed(machine: Machine) -> dict[str, str]:
    """{package: version} of what the machine's real dpkg reports installed."""
    result = machine.run("dpkg-query -W -f='${db:Status-Status} ${Package} ${Version}\\n'", env={"PATH": SYSTEM_PATH})
    assert result.returncode == 0, result.stderr
    return {package: version for status, package, version in (line.split() for line in result.stdout.splitlines())
            if status == "installed"}
