"""Air-gapped installs (templates/lib/airgap.sh.j2) from a bundle that the real builder script
(templates/scripts/kubernetes-airgap-bundle.sh.j2) made in the fake host with the real apt, curl and gpg
against Debian's real mirror and signed stand-ins of pkgs.k8s.io and Docker's repository, and a stubbed
registry (tests/support/bundle.py: real .deb files, real OCI archives).

The installs run with no default route, and every network tool (curl, dnf, skopeo, gpg; apt-get and
apt-cache on the RHEL family) fails loudly: a test asserts none was called. On Debian the real apt-get
and dpkg install the bundle's real packages (their maintainer scripts keep the stubs' package state:
tests/support/aptrepo.py maintainer_scripts)."""

from __future__ import annotations

import hashlib
import io
import re
import os
import tarfile
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.aptrepo import dpkg_installed
from tests.support.bundle import (ARCH, BUNDLE_NAME, KUBE, PACKAGES, REGISTRY, RHEL_BUNDLE_NAME, bundle_images, builder,
                                  builder_script, rhel_builder)

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

NETWORK_TOOLS = ("curl", "apt-get", "apt-cache", "dnf", "skopeo", "gpg")
REAL_APT = ("apt-get", "apt-mark", "apt-cache", "dpkg", "dpkg-query")  # a Debian host's, offline
LOUD = 'echo "NETWORK TOOL CALLED: $(basename "$0") $*" >&2; exit 99'
BUNDLE = "/root/" + BUNDLE_NAME


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The builder host after one run of the builder with the default options."""
    host = builder(tmp_path_factory.mktemp("airgap"))
    result = host.run(builder_script(), timeout=300)
    assert result.returncode == 0, result.stderr
    return host, result


def members(bundle: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def repack(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                   for name, data in sorted(files.items()) if name != "./SHA256SUMS").encode()


def air_gapped(tmp_path: Path, bundle: bytes, path: str = BUNDLE, **kwargs):
    """A host with no default route whose network tools fail loudly, holding the bundle."""
    from tests.support.rootfs import Machine

    real = {"debian12": REAL_APT, "rocky9": ("rpm",)}.get(kwargs.get("os_release", "debian12"), ())
    host = Machine(tmp_path, route=False, behaviour={name: LOUD for name in NETWORK_TOOLS if name not in real},
                   real=real, **kwargs)
    host.path("/root").mkdir(parents=True, exist_ok=True)
    host.path(path).write_bytes(bundle)
    return host


def network_calls(host) -> list[str]:
    return [c for c in host.commands() if c.split()[0] in NETWORK_TOOLS]


def test_the_builder_writes_packages_images_scripts_a_manifest_and_checksums(built) -> None:
    host, result = built
    files = members(host.path("/" + BUNDLE_NAME).read_bytes())
    manifest = [line.split("\t") for line in files["./manifest.tsv"].decode().splitlines() if not line.startswith("#")]
    header = {row[1]: row[2] for row in manifest if row[0] == "bundle"}
    assert header["kubernetes"] == KUBE and header["os-family"] == "debian" and header["arch"] == ARCH
    packages = {row[1]: row[2] for row in manifest if row[0] == "package"}
    # the newest patch, not 1.37.2; containerd.io the pinned 2.2.6, not the repository's newest (2.3.0)
    assert {name: packages.get(name) for name in PACKAGES} == {name: version for name, (version, _) in PACKAGES.items()}
    # the Debian side as apt's solver picks it from Debian's real index: kubelet's and containerd.io's dependencies
    # and theirs, one side of each or-group (libpam0g's "debconf (>= 0.5) | debconf-2.0": debconf, never cdebconf,
    # which also provides debconf-2.0 and which 'apt-cache depends --recurse' walked into)
    assert {"mount", "util-linux", "libc6", "libseccomp2", "libpam0g", "debconf"} <= set(packages)
    assert "debconf-2.0" in _control(files, "libpam0g", "Depends") and "cdebconf" not in packages
    images = {row[1]: row for row in manifest if row[0] == "image"}
    assert sorted(images) == sorted(bundle_images({}))
    from app.settings import get_settings
    assert get_settings().dns_test_image in images  # agnhost: the install's connectivity check runs it offline too
    for ref, (_, _, _, digest, path) in images.items():  # the digest is the archive's manifest's
        with tarfile.open(fileobj=io.BytesIO(files["./" + path])) as archive:
            manifest_digest = digest.split(":")[1]
            blob = archive.extractfile("blobs/sha256/" + manifest_digest).read()
            assert hashlib.sha256(blob).hexdigest() == manifest_digest, ref
    for row in manifest:
        if row[0] in ("package", "script"):
            assert hashlib.sha256(files["./" + row[4]]).hexdigest() == row[3], row
    assert files["./SHA256SUMS"] == sums(files)
    assert files["./scripts/kubernetes-init.sh"].decode() == render_script(kubernetes_version=KUBE)
    assert host.read("/kubernetes-node-join.sh") == render_script("scripts/kubernetes-node-join.sh.j2", kubernetes_version=KUBE)
    assert f"sudo bash kubernetes-init.sh airgap=/path/to/{BUNDLE_NAME}" in result.stdout
    assert "unsandboxed" not in result.stderr  # apt's sandbox user reached its private download directories
    # resolved for a bare root, not against the builder's own packages: libc6, installed here, came too
    assert "libc6" in packages and "libc6" in dpkg_installed(host)


def _control(files: dict[str, bytes], package: str, field: str) -> str:
    """A field of the bundle's PACKAGE, as the real dpkg-deb reads it."""
    import subprocess
    import tempfile

    name = next(n for n in files if n.startswith(f"./packages/{package}_"))
    with tempfile.NamedTemporaryFile(suffix=".deb") as deb:
        deb.write(files[name])
        deb.flush()
        return subprocess.run(["dpkg-deb", "-f", deb.name, field], check=True, capture_output=True, text=True).stdout


def test_the_builder_stops_naming_an_image_the_registry_does_not_have(tmp_path: Path) -> None:
    host = builder(tmp_path)
    archives = list(host.path(REGISTRY).glob("*weave-npc*"))
    assert archives
    for archive in archives:
        archive.unlink()
    result = host.run(builder_script(), timeout=300)
    assert result.returncode == 1
    assert re.search(r"skopeo could not copy \S+/weave-npc:\d", result.stderr), result.stderr
    assert "manifest unknown" in result.stderr
    assert not host.exists("/" + BUNDLE_NAME)


def test_an_air_gapped_install_uses_only_the_bundle_and_no_network_tool(built, tmp_path: Path) -> None:
    bundle = built[0].path("/" + BUNDLE_NAME).read_bytes()
    host = air_gapped(tmp_path, bundle)
    result = host.run(render_script(), f"airgap={BUNDLE}", "private-address=10.0.0.5")
    assert result.returncode == 0, result.stderr
    assert network_calls(host) == [] and "NETWORK TOOL CALLED" not in result.stderr
    commands = host.commands()
    # one offline apt-get transaction of the bundle's packages this host lacked (it has the Debian side: it is the
    # same release's minimal root)
    installs = [line for line in host.read("/var/log/apt/history.log").splitlines() if line.startswith("Commandline: ")]
    assert len(installs) == 1 and " install -y -q --no-remove --no-install-recommends " in installs[0]
    assert "-o Dir::Etc::SourceList=/dev/null" in installs[0]  # no source: nothing to download
    assert sorted(p.rsplit("/", 1)[1].split("_")[0] for p in installs[0].split() if p.endswith(".deb")) == sorted(PACKAGES)
    packages = dpkg_installed(host)
    assert {name: packages.get(name) for name in PACKAGES} == {name: version for name, (version, _) in PACKAGES.items()}
    imports = [i for i, c in enumerate(commands) if c.startswith("ctr -n k8s.io images import --platform linux/")]
    assert len(imports) == len(bundle_images({}))
    init = next(i for i, c in enumerate(commands) if c.startswith("kubeadm init --config "))
    assert max(imports) < init  # the images are there before kubeadm looks for them
    # containerd's sandbox image is kubeadm's pause image, which the bundle holds: nothing to re-tag
    assert "sandbox = 'registry.k8s.io/pause:3.10.1'" in host.read("/etc/containerd/config.toml")
    assert not [c for c in commands if c.startswith("ctr -n k8s.io images tag")]
    assert sorted(host.read("/var/lib/kubeinit-stubs/images").split()) == sorted(bundle_images({}))
    assert not host.exists("/etc/apt/sources.list.d/kubernetes.list")  # no repository added
    assert "\napi-server=10.0.0.5:6443\ntoken=" in result.stdout
    assert f"joined):\n\nsudo bash kubernetes-node-join.sh airgap={BUNDLE} join-file=/root/kubeinit-join\n" in result.stdout

    again = host.run(render_script(), f"airgap={BUNDLE}", "private-address=10.0.0.5")
    assert again.returncode == 0, again.stderr
    later = host.commands()[len(commands):]
    assert not [c for c in later if c.startswith(("ctr -n k8s.io images import", "ctr -n k8s.io images tag"))]
    assert host.read("/var/log/apt/history.log").count("Commandline: ") == 1  # nothing to install again
    assert "image registry.k8s.io/pause:3.10.1: present" in again.stderr


def test_an_air_gapped_join_uses_only_the_bundle(built, tmp_path: Path) -> None:
    bundle = built[0].path("/" + BUNDLE_NAME).read_bytes()
    host = air_gapped(tmp_path, bundle)
    # The control plane's API server, which the join script reaches over TCP (bash's /dev/tcp under
    # timeout, no network tool): none runs in this test host, so the connection attempt is stubbed.
    host.behave("timeout", "exit 0")
    (host.stubs.dir / "timeout").chmod(0o755)
    join = built[0].read("/kubernetes-node-join.sh")
    result = host.run(join, f"airgap={BUNDLE}", "api-server=10.0.0.5", "token=abcdef.0123456789abcdef",
                      "ca-cert-hash=sha256:" + "ab" * 32, "private-address=10.0.0.5")  # no default route here
    assert result.returncode == 0, result.stderr
    assert network_calls(host) == []
    commands = host.commands()
    assert dpkg_installed(host)["kubeadm"] == PACKAGES["kubeadm"][0]
    assert any(c.startswith("timeout 10 bash -c") and c.endswith("10.0.0.5 6443") for c in commands)
    join_at = next(i for i, c in enumerate(commands) if c.startswith("kubeadm join --config "))
    assert max(i for i, c in enumerate(commands) if "images import" in c) < join_at


@pytest.fixture(scope="module")
def rhel_built(tmp_path_factory):
    """The Rocky Linux 9 builder host (the real dnf and rpmkeys) after one run of the builder, and its repositories."""
    host, repos = rhel_builder(tmp_path_factory.mktemp("rhel"))
    result = host.run(builder_script(), timeout=300)
    assert result.returncode == 0, result.stderr
    return host, repos


def _rpms(bundle: bytes) -> dict[str, str]:
    manifest = members(bundle)["./manifest.tsv"].decode().splitlines()
    return {row[1]: row[2] for row in (line.split("\t") for line in manifest) if row[0] == "package"}


def test_the_rhel_builder_bundles_every_dependency_also_those_its_own_host_has(rhel_built) -> None:
    """dnf download --resolve skips what the builder has (dnf-download(8)): its host holds containerd.io's
    libseccomp and container-selinux, and the bundle must hold them all the same (--alldeps)."""
    from tests.support.rpmrepo import DOCKER_RPMS, KUBE_RPMS, ROCKY_RPMS

    host, _ = rhel_built
    packages = _rpms(host.path("/" + RHEL_BUNDLE_NAME).read_bytes())
    offered = {name: evr.split(":")[-1] for name, evr, _, _ in
               KUBE_RPMS["1.37"] + DOCKER_RPMS[:1] + [p for repo in ROCKY_RPMS.values() for p in repo]}
    # the newest patch, containerd.io the pinned 2.2.6 (not the newer 2.3.0), and the closure: bash (/bin/sh, which
    # every scriptlet requires), libseccomp and container-selinux; not rocky-release, which nothing requires
    assert packages == {name: version for name, version in offered.items() if name != "rocky-release"}
    result = host.run("rpm -q libseccomp container-selinux", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout  # the builder has them: dnf download --resolve alone left them out


def test_the_rhel_builder_refuses_a_package_without_a_signature(tmp_path: Path) -> None:
    """rpmkeys --checksig answers "digests OK" and exit 0 for an unsigned package: the builder asks for the signature."""
    host, _ = rhel_builder(tmp_path, unsigned=("containerd.io",))
    result = host.run(builder_script(), timeout=300)
    assert result.returncode == 1
    assert ("containerd.io-2.2.6-3.1.el9.x86_64.rpm: no signature that verifies against the repositories' keys "
            "(") in result.stderr, result.stderr
    assert not host.exists("/" + RHEL_BUNDLE_NAME)


def test_the_rhel_builder_names_dnfs_missing_download_plugin(tmp_path: Path) -> None:
    host, _ = rhel_builder(tmp_path)
    host.prepare("rm /usr/lib/python3/dist-packages/dnf-plugins/download.py")
    result = host.run(builder_script(), timeout=300)
    assert result.returncode == 1
    assert "the builder needs dnf's download command: install it first (dnf install dnf-plugins-core)" in result.stderr
    assert not [c for c in host.commands() if c.startswith("skopeo")]


def test_an_air_gapped_rhel_install_takes_the_bundles_rpms_and_adds_no_repository(rhel_built, tmp_path: Path) -> None:
    """The bundle installs with the real rpm on a minimal Rocky Linux 9 (its shell and release only), offline."""
    builder_host, repos = rhel_built
    bundle = builder_host.path("/" + RHEL_BUNDLE_NAME).read_bytes()
    host = air_gapped(tmp_path / "host", bundle, "/root/" + RHEL_BUNDLE_NAME, os_release="rocky9")
    repos.install(host, "bash", "rocky-release")
    before = set(host.run("rpm -qa --qf '%{NAME}\\n'", env={"PATH": "/usr/bin:/bin"}).stdout.split())
    assert {"bash", "rocky-release"} <= before
    result = host.run(render_script(), f"airgap=/root/{RHEL_BUNDLE_NAME}", "private-address=10.0.0.5")
    assert result.returncode == 0, result.stderr
    assert network_calls(host) == []
    packages = _rpms(bundle)
    # what this host lacked, all but its bash, installed by rpm in one transaction (one INSTALLTID, as rpm's
    # database records it)
    installed = host.run("rpm -qa --qf '%{INSTALLTID} %{NAME}\\n'", env={"PATH": "/usr/bin:/bin"}).stdout.split("\n")
    new = {name: tid for tid, name in (line.split() for line in installed if line) if name not in before}
    assert sorted(new) == sorted(set(packages) - {"bash"}) and len(set(new.values())) == 1
    query = host.run("rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' kubeadm kubelet containerd.io container-selinux",
                     env={"PATH": "/usr/bin:/bin"})
    assert query.stdout.splitlines() == [f"{n} {packages[n]}" for n in ("kubeadm", "kubelet", "containerd.io", "container-selinux")]
    assert "kubelet 1.37.3-150500.1.1" in host.read("/var/lib/kubeinit-stubs/packages")  # its scriptlet ran
    assert not host.exists("/etc/yum.repos.d/kubernetes.repo") and not host.exists("/etc/yum.repos.d/docker-ce.repo")
    assert any(c.startswith("kubeadm init --config ") for c in host.commands())


def test_a_rhel_bundle_resolved_against_the_builders_own_packages_does_not_install(rhel_built, tmp_path: Path) -> None:
    """What 'dnf download --resolve' alone gives (no --alldeps): rpm refuses the set on a minimal host, and installs
    none of it."""
    builder_host, repos = rhel_built
    script = builder_script()
    assert script.count(" download --resolve --alldeps ") == 1
    host, _ = rhel_builder(tmp_path / "builder")
    built = host.run(script.replace(" download --resolve --alldeps ", " download --resolve "), timeout=300)
    assert built.returncode == 0, built.stderr
    bundle = host.path("/" + RHEL_BUNDLE_NAME).read_bytes()
    assert not {"libseccomp", "container-selinux"} & set(_rpms(bundle))
    target = air_gapped(tmp_path / "host", bundle, "/root/" + RHEL_BUNDLE_NAME, os_release="rocky9")
    repos.install(target, "bash", "rocky-release")
    result = target.run(render_script(), f"airgap=/root/{RHEL_BUNDLE_NAME}", "private-address=10.0.0.5")
    assert result.returncode == 1
    assert "container-selinux >= 2:2.74 is needed by containerd.io-2.2.6-3.1.el9" in result.stdout + result.stderr  # rpm's words
    assert "rpm could not install the bundle's packages" in result.stderr
    assert target.run("rpm -q kubeadm", env={"PATH": "/usr/bin:/bin"}).returncode == 1


def _other_arch(files: dict[str, bytes]) -> dict[str, bytes]:
    other = "arm64" if ARCH == "amd64" else "amd64"
    files["./manifest.tsv"] = files["./manifest.tsv"].replace(f"bundle\tarch\t{ARCH}".encode(), f"bundle\tarch\t{other}".encode())
    files["./SHA256SUMS"] = sums(files)
    return files


def _other_containerd(files: dict[str, bytes]) -> dict[str, bytes]:
    manifest = files["./manifest.tsv"].decode()
    pinned = PACKAGES["containerd.io"][0]
    assert f"package\tcontainerd.io\t{pinned}\t" in manifest
    files["./manifest.tsv"] = manifest.replace(f"\tcontainerd.io\t{pinned}", "\tcontainerd.io\t2.3.0-1~debian.12~bookworm").encode()
    files["./SHA256SUMS"] = sums(files)
    return files


def _altered(files: dict[str, bytes]) -> dict[str, bytes]:
    name = next(n for n in files if n.startswith("./packages/kubeadm_"))
    files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    return files


def _extra(files: dict[str, bytes]) -> dict[str, bytes]:
    files["./packages/zz-extra_1.0_all.deb"] = b"not in SHA256SUMS"
    return files


@pytest.mark.parametrize(("damage", "args", "message"), [
    ("truncated", (), "is damaged or truncated"),
    ("altered", (), "is altered, SHA256SUMS does not match: ./packages/kubeadm_"),
    ("extra", (), "holds files SHA256SUMS does not list: ./packages/zz-extra_1.0_all.deb"),
    ("other-arch", (), "does not fit this host: it is for"),
    ("other-containerd", (), "does not fit this host: it holds containerd.io 2.3.0-1~debian.12~bookworm, not the pinned 2.2.6"),
    ("as-built", ("kubernetes-version=1.36",), f"does not fit this host: it holds Kubernetes {KUBE}, not 1.36"),
])
def test_a_bad_bundle_is_refused_by_name_and_nothing_changes(built, tmp_path: Path, damage, args, message) -> None:
    bundle = built[0].path("/" + BUNDLE_NAME).read_bytes()
    if damage == "truncated":
        bundle = bundle[: len(bundle) // 2]
    elif damage != "as-built":
        bundle = repack({"altered": _altered, "extra": _extra, "other-arch": _other_arch,
                          "other-containerd": _other_containerd}[damage](members(bundle)))
    host = air_gapped(tmp_path, bundle)
    result = host.run(render_script(), f"airgap={BUNDLE}", "private-address=10.0.0.5", *args)
    assert result.returncode == 1
    assert message in result.stderr and "nothing was changed" in result.stderr
    if damage == "other-arch":
        assert f"this host is {ARCH}" in result.stderr
    assert host.changes() == {}
    assert not [c for c in host.commands() if c.startswith(("ctr", "kubeadm init"))]


def test_a_bundle_lacking_a_dependency_installs_no_package_and_says_so(built, tmp_path: Path) -> None:
    # kubelet depends on kubernetes-cni, which this host lacks: a bundle without it (built for a host that had it)
    files = members(built[0].path("/" + BUNDLE_NAME).read_bytes())
    name = next(n for n in files if n.startswith("./packages/kubernetes-cni_"))
    del files[name]
    files["./manifest.tsv"] = b"".join(line for line in files["./manifest.tsv"].splitlines(keepends=True)
                                       if not line.startswith(b"package\tkubernetes-cni\t"))
    files["./SHA256SUMS"] = sums(files)
    host = air_gapped(tmp_path, repack(files))
    result = host.run(render_script(), f"airgap={BUNDLE}", "private-address=10.0.0.5")
    assert result.returncode == 1
    assert "kubelet : Depends: kubernetes-cni (>= 1.2.0) but it is not installable" in result.stdout + result.stderr  # apt's words
    assert ("apt-get could not install the bundle's packages (its messages are above; when apt's solver refused the "
            "set, none was installed): this host lacks a dependency the builder's host had") in result.stderr
    # nothing unpacked or left unconfigured: apt (and a re-run with a complete bundle) still works
    assert not set(PACKAGES) & set(dpkg_installed(host))
    assert host.run("apt-get check", env={"PATH": "/usr/bin:/bin"}).returncode == 0


def test_a_missing_bundle_is_named(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    host = Machine(tmp_path, route=False)
    result = host.run(render_script(), "airgap=/root/nothing-here.tar.gz", "private-address=10.0.0.5")
    assert result.returncode == 1
    assert "airgap: /root/nothing-here.tar.gz: no such file on this host" in result.stderr
    assert host.changes() == {}



MIRROR = "mirror.example.com:5000/k8s"  # a proxy cache of registry.k8s.io: it serves registry.k8s.io's paths


def test_a_mirrored_registry_k8s_io_bundles_and_runs_coredns_by_its_real_path(tmp_path: Path) -> None:
    """kubeadm names CoreDNS <repository>/coredns off registry.k8s.io (GetDNSImage), which a proxy cache lacks:
    the builder and the install both name <mirror>/coredns/coredns through dns.imageRepository."""
    host = builder(tmp_path, repository=MIRROR)
    result = host.run(builder_script(MIRROR), timeout=300)
    assert result.returncode == 0, result.stderr
    bundle = host.path("/" + BUNDLE_NAME).read_bytes()
    manifest = members(bundle)["./manifest.tsv"].decode()
    assert f"\t{MIRROR}/coredns/coredns:v1.13.1\t" in manifest
    gapped = air_gapped(tmp_path / "host", bundle)
    script = render_script().replace("\nKUBEADM_IMAGE_REPOSITORY=registry.k8s.io\n", f"\nKUBEADM_IMAGE_REPOSITORY={MIRROR}\n")
    installed = gapped.run(script, f"airgap={BUNDLE}", "private-address=10.0.0.5")
    assert installed.returncode == 0, installed.stderr
    assert "ERROR ImagePull" not in installed.stderr  # kubeadm init found every image, CoreDNS included
    assert f'dns:\n  imageRepository: "{MIRROR}/coredns"\n' in gapped.read("/etc/kubeinit/kubeadm.yaml")


def test_the_bundles_images_are_pinned_and_one_gone_comes_back_on_a_re_run(built, tmp_path: Path) -> None:
    """The kubelet's image GC removes unpinned idle images (agnhost, kube-vip...), which an air-gapped host can never
    pull again: each is labelled io.cri-containerd.pinned=pinned, and a re-run imports again what went."""
    bundle = built[0].path("/" + BUNDLE_NAME).read_bytes()
    host = air_gapped(tmp_path, bundle)
    args = (f"airgap={BUNDLE}", "private-address=10.0.0.5")
    assert (result := host.run(render_script(), *args)).returncode == 0, result.stderr
    labels = host.read("/var/lib/kubeinit-stubs/labels").splitlines()
    assert sorted(labels) == sorted(f"{ref} io.cri-containerd.pinned=pinned" for ref in bundle_images({}))
    from app.settings import get_settings
    agnhost = get_settings().dns_test_image
    store = host.read("/var/lib/kubeinit-stubs/images")
    host.write("/var/lib/kubeinit-stubs/images", store.replace(agnhost + "\n", ""))  # garbage-collected
    host.write("/var/lib/kubeinit-stubs/labels", "")
    count = len(host.commands())
    assert (again := host.run(render_script(), *args)).returncode == 0, again.stderr
    imports = [c for c in host.commands()[count:] if " images import " in c]
    assert len(imports) == 1 and imports[0].endswith(".tar") and "agnhost" in imports[0]
    assert agnhost in host.read("/var/lib/kubeinit-stubs/images").splitlines()
    assert f"{agnhost} io.cri-containerd.pinned=pinned" in host.read("/var/lib/kubeinit-stubs/labels").splitlines()
