"""A test air-gap bundle, built by the real kubernetes-airgap-bundle script in the fake host with the real
apt-get, apt-cache, curl and gpg against Debian's real mirror and signed stand-ins of pkgs.k8s.io and Docker's
repository, and a stubbed registry.

The stand-ins (tests/support/aptrepo.py) hold real ``.deb`` files made here with ``dpkg-deb --build`` for what
Debian lacks (kubeadm's holds a ``usr/bin/kubeadm`` that answers ``config images list`` as kubeadm does, from
``fixtures/kubeadm-config-images-list.txt``); their dependencies come from Debian's mirror, reached through the
test process (aptrepo.mirror_relay): apt's own solver picks the bundle's set from the real index. The registry's
images are real OCI image layouts (``oci-layout``, ``index.json``, ``blobs/sha256/...``) in tar archives,
named as skopeo names them (``org.opencontainers.image.ref.name`` = the full image name).

The RHEL family's builder (``rhel_builder``) runs the real dnf (Debian's, with its download plugin) and rpmkeys
against signed RPM stand-ins (tests/support/rpmrepo.py), on a host that already holds some of the dependencies.

    host = builder(tmp_path)                 # a Machine with those repositories, service and registry
    host, repos = rhel_builder(tmp_path)     # the same for Rocky Linux 9, with the real dnf
    result = host.run(builder_script(), ...)
    bundle = host.path("/" + BUNDLE_NAME)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import urllib.parse
from pathlib import Path

from tests.support import BASE_URL, render_script
from tests.support.aptrepo import ARCH, DOCKER_PACKAGES, KUBE_PACKAGES

KUBE = "1.37.3"
BUNDLE_NAME = f"kubeinit-airgap-{KUBE}-debian-{ARCH}.tar.gz"
REGISTRY = "/srv/test-registry"  # the registry's images, one OCI archive each
FIXTURES = Path(__file__).parent / "fixtures"

# name: (version, Depends): the stand-ins for what Debian lacks, as tests/support/aptrepo.py has them (each citing its
# source): pkgs.k8s.io's newest patch of the minor (1.37.2 is there too: the builder takes the newest) and Docker's
# containerd.io, pinned (KUBEINIT_CONTAINERD_VERSION). kubeadm's package depends on nothing from 1.32, so the builder
# names cri-tools itself. Their Debian dependencies (kubelet's mount and util-linux, containerd.io's libc6 and
# libseccomp2, and theirs in turn) come from Debian's real mirror.
PACKAGES = {name: (version, depends) for name, version, depends in KUBE_PACKAGES[KUBE.rsplit(".", 1)[0]]} | {
    "containerd.io": next((v, d) for n, v, d in DOCKER_PACKAGES["bookworm"] if v.startswith("2.2.6-"))}
# Docker's repository offers containerd.io releases newer than the pinned one: the builder takes the pinned one, as
# connected hosts get it.
NEWER = [("containerd.io", "2.3.0-1~debian.12~bookworm", PACKAGES["containerd.io"][1])]

def images_list(version: str = "v" + KUBE, repository: str = "registry.k8s.io", dns: str = "") -> list[str]:
    """kubeadm's answer for VERSION, REPOSITORY (imageRepository) and DNS (dns.imageRepository), from the recorded
    one for registry.k8s.io. CoreDNS is DNS-or-REPOSITORY/coredns:TAG, with the coredns/ path added only for
    registry.k8s.io itself (cmd/kubeadm/app/images/images.go, GetDNSImage)."""
    lines = (FIXTURES / "kubeadm-config-images-list.txt").read_text().splitlines()
    recorded = [line for line in lines if line.startswith("registry.k8s.io/")]
    recorded_version = recorded[0].rsplit(":", 1)[1]
    dns = dns or repository
    dns = dns + "/coredns" if dns == "registry.k8s.io" else dns
    return [(dns + "/coredns:" + line.rsplit(":", 1)[1]) if line.startswith("registry.k8s.io/coredns/coredns:")
            else line.replace("registry.k8s.io", repository).replace(":" + recorded_version, ":" + version)
            for line in recorded]


def kubeadm_binary() -> str:
    """usr/bin/kubeadm of the test package: answers 'config images list' as kubeadm does, from flags or from a
    ClusterConfiguration (--config, which kubeadm does not let mix with the flags: ValidateMixedArguments)."""
    listing = "\n".join(line.replace("{version}", "$version").replace("{dns}/coredns:", "$dns/coredns:")
                        .replace("{repository}", "$repository") for line in images_list("{version}", "{repository}", "{dns}"))
    return f"""#!/bin/sh
version=; repository=registry.k8s.io; dns=; config=; prev=
for a in "$@"; do case $prev in --kubernetes-version) version=$a ;; --image-repository) repository=$a ;; --config) config=$a ;; esac; prev=$a; done
if [ -n "$config" ]; then
  [ -z "$version" ] && [ "$repository" = registry.k8s.io ] || {{ echo "can not mix '--config' with arguments [image-repository kubernetes-version]" >&2; exit 1; }}
  version=$(sed -n 's/^kubernetesVersion: *"*\\([^"]*\\)"*$/\\1/p' "$config")
  r=$(sed -n 's/^imageRepository: *"*\\([^"]*\\)"*$/\\1/p' "$config"); [ -z "$r" ] || repository=$r
  dns=$(sed -n 's/^  imageRepository: *"*\\([^"]*\\)"*$/\\1/p' "$config")
fi
[ -n "$dns" ] || dns=$repository; [ "$dns" != registry.k8s.io ] || dns=$dns/coredns
case "$1 $2 $3" in
  "config images list") cat <<EOF
{listing}
EOF
  ;;
  *) echo "kubeadm (test package): $*" >&2; exit 1 ;;
esac
"""


def _tar_add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    archive.addfile(info, io.BytesIO(data))


def make_oci_archive(path: Path, ref: str, arch: str = ARCH) -> str:
    """A minimal OCI image layout in a tar archive, named ref as skopeo's oci-archive:PATH:REF names
    it; returns the manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as layer:
        _tar_add(layer, "etc/image-name", ref.encode() + b"\n")
    layer_raw = layer_tar.getvalue()
    layer_gz = gzip.compress(layer_raw, mtime=0)
    config = json.dumps({
        "architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_raw).hexdigest()]},
    }).encode()
    blobs = {}

    def blob(data: bytes, media_type: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(layer_gz, "application/vnd.oci.image.layer.v1.tar+gzip")],
    }).encode()
    descriptor = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    index = {"schemaVersion": 2, "manifests": [{**descriptor, "annotations": {"org.opencontainers.image.ref.name": ref}}]}
    with tarfile.open(path, "w") as archive:
        _tar_add(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _tar_add(archive, "index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            _tar_add(archive, "blobs/sha256/" + digest.split(":")[1], data)
    return descriptor["digest"]


def sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


# The registry stays a stub (skopeo needs one): skopeo copy docker://REF oci-archive:PATH:REF gives the
# registry's archive for REF, for amd64 only (skopeo's error for another architecture); an unknown image is
# "manifest unknown".
SKOPEO = f"""src=; dst=; arch=; prev=
for a in "$@"; do case $prev in --override-arch) arch=$a ;; esac; case $a in docker://*) src=${{a#docker://}} ;; oci-archive:*) dst=${{a#oci-archive:}} ;; esac; prev=$a; done
[ "$arch" = {ARCH} ] || {{ echo "FATA[0001] choosing an image from manifest list docker://$src: no image found in manifest list for architecture $arch, variant \\"\\", OS linux" >&2; exit 1; }}
f={REGISTRY}/$(printf '%s' "$src" | sed 's/[^A-Za-z0-9._-]/_/g').tar
[ -f "$f" ] || {{ echo "FATA[0001] initializing source docker://$src: reading manifest: manifest unknown" >&2; exit 1; }}
[ "${{dst#*:}}" = "$src" ] || {{ echo "test skopeo: the archive would be named ${{dst#*:}}, not $src" >&2; exit 1; }}
cp "$f" "${{dst%%:*}}\""""


def served_scripts(query: dict[str, str]) -> dict[str, str]:
    """What the service answers the builder: {path?query: body}, for the installer and the join script
    rendered with the builder's settings and the exact version."""
    options = {"kubernetes_version": KUBE, **query}
    from app.params import canonical_query, parse_pairs

    canonical = canonical_query(parse_pairs(options.items()))
    answers = {}
    for name in ("kubernetes-init", "kubernetes-node-join"):
        body = render_script(f"scripts/{name}.sh.j2", **options)
        answers[f"{name}?{canonical}"] = body
        answers[f"{name}.sha256?{canonical}"] = hashlib.sha256(body.encode()).hexdigest() + f"  {name}.sh\n"
    return answers


def builder(directory: Path, query: dict[str, str] | None = None, repository: str = ""):
    """A connected Debian 12 host whose real apt, curl and gpg reach signed HTTPS stand-ins of pkgs.k8s.io and
    download.docker.com (tests/support/aptrepo.py) holding the test packages, and Debian's real mirror; whose
    kubeinit service (http://kubeinit.test:8000, the same server) answers the scripts it renders for
    ``query``; and whose stubbed registry holds test images (``repository``: under that mirror of
    registry.k8s.io, with its paths)."""
    from tests.support.aptrepo import Repositories
    from tests.support.rootfs import REAL_PACKAGING, Machine

    repos = Repositories(directory / "repos", docker={"bookworm": DOCKER_PACKAGES["bookworm"] + NEWER},
                         files={"kubeadm": {"/usr/bin/kubeadm": kubeadm_binary()}})
    host = Machine(directory / "builder", real=REAL_PACKAGING, behaviour={"skopeo": SKOPEO})
    repos.attach(host, mirror=True)
    _registry_and_service(host, repos, query or {}, repository)
    return host


def _registry_and_service(host, repos, query: dict[str, str], repository: str = "") -> None:
    """The builder HOST's stubbed registry, holding the test images for QUERY (REPOSITORY: under that mirror), and
    its kubeinit service, answered by REPOS' server with the scripts rendered for QUERY."""
    registry = host.path(REGISTRY)
    registry.mkdir(parents=True)
    for ref in bundle_images(query, repository):
        make_oci_archive(registry / (sanitize(ref) + ".tar"), ref)
    for url, body in served_scripts(query).items():
        repos.site(urllib.parse.urlsplit(BASE_URL).hostname, "/" + url, body)

def bundle_images(query: dict[str, str], repository: str = "") -> list[str]:
    """The images a bundle for these options holds (default settings of the service; REPOSITORY: another
    KUBEINIT_KUBEADM_IMAGE_REPOSITORY, a mirror of registry.k8s.io, whose CoreDNS is REPOSITORY/coredns/coredns)."""
    from app.params import parse_pairs
    from app.settings import get_settings

    options = parse_pairs(query.items())
    settings = get_settings()
    weave = settings.weave_repositories[options.weave_version]
    if repository:
        refs = images_list("v" + KUBE, repository, repository + "/coredns")
    else:
        refs = images_list("v" + KUBE, settings.kubeadm_image_repository)
    refs += [f"{weave}/weave-kube:{options.weave_version}", f"{weave}/weave-npc:{options.weave_version}"]
    refs.append(settings.dns_test_image)  # agnhost: the connectivity check and troubleshoot run it
    if options.nodelocal_dnscache:
        refs.append(settings.nodelocaldns_image)
    return refs


def builder_script(repository: str = "", **query: str) -> str:
    """The builder the service serves (``repository``: as with KUBEINIT_KUBEADM_IMAGE_REPOSITORY set to it)."""
    script = render_script("scripts/kubernetes-airgap-bundle.sh.j2", **query)
    if repository:
        assert "\nKUBEADM_IMAGE_REPOSITORY=registry.k8s.io\n" in script
        script = script.replace("\nKUBEADM_IMAGE_REPOSITORY=registry.k8s.io\n", f"\nKUBEADM_IMAGE_REPOSITORY={repository}\n")
    return script



RHEL_BUNDLE_NAME = f"kubeinit-airgap-{KUBE}-rhel-{ARCH}.tar.gz"
# What the RHEL family's builder host has already: a minimal system (its shell and release), and containerd.io's dependencies from Rocky's own
# repositories (a host that ran containers): 'dnf download --resolve' alone would leave these out (dnf-download(8)).
RHEL_BUILDER_HAS = ("bash", "rocky-release", "libseccomp", "container-selinux")


def rhel_builder(directory: Path, has: tuple[str, ...] = RHEL_BUILDER_HAS, unsigned: tuple[str, ...] = ()):
    """(host, repositories): a connected Rocky Linux 9 host whose real dnf, rpm, curl and gpg reach signed stand-ins
    of pkgs.k8s.io's, Docker's and Rocky's own RPM repositories (tests/support/rpmrepo.py; UNSIGNED: packages without
    a signature), holding HAS already; its service and registry as builder()'s."""
    from tests.support.rootfs import DNF_ROOT, Machine
    from tests.support.rpmrepo import REAL_DNF, RpmRepositories

    repos = RpmRepositories(directory / "repos", files={"kubeadm": {"/usr/bin/kubeadm": kubeadm_binary()}}, unsigned=unsigned)
    host = Machine(directory / "builder", os_release="rocky9", root_packages=DNF_ROOT, real=REAL_DNF,
                   behaviour={"skopeo": SKOPEO})
    repos.attach(host)
    repos.install(host, *has)
    _registry_and_service(host, repos, {})
    return host, repos
