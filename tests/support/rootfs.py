"""An isolated Debian 12 host to run the rendered installers in, end to end (needs root).

    machine = Machine(tmp_path, os_release="rocky9", swaps="/swap.img file 1024 0 -2\n",
                      behaviour={"kubectl": 'echo "node1 Ready"'})
    machine.write("/etc/fstab", text)             # shape the host before a run
    result = machine.run(script, "dry-run", env={"CONTAINERD_VERSION": "2.0.2-1"})  # -> Run
    machine.read("/etc/sysctl.d/…")               # what the runs left behind (None: absent)
    machine.calls(), machine.commands()           # stubbed commands in call order: argv lists, lines
    machine.stubs.stdin(i)                        # what the i-th stubbed call read on stdin
    machine.changes()                             # {path: digest or "deleted"}: what the runs changed
    machine.snapshot()                            # the same for everything in the upper layer

``base()`` builds the root file system once with ``debootstrap --variant=minbase`` and keeps it
under ``/var/cache/kubeinit-tests/``, keyed by the recipe (suite, packages, mirror): a change
of recipe, or a tree without its completion stamp (an interrupted build), rebuilds it.

Each ``Machine`` is a fresh overlay over that cached tree: its own upper directory collects
everything the runs write, and persists across the runs of one machine (so a second run sees
the first one's work). A run mounts the overlay in a private mount namespace (``unshare
--mount --propagation private``) and a private network namespace whose only interface, lo,
holds ``ADDRESS`` with a default route (so ports are free and the host's address is known),
then chroots into it and pipes the script to ``bash -s ARGS`` with a clean environment (PATH
with the stubs first, HOME, LC_ALL, NO_COLOR, and ``env``). ``/sys`` is the tree's own directory
with a cgroup v2 marker; ``/proc`` is a real procfs (``swaps=`` bind-mounts a fake, writable
``/proc/swaps`` over it). ``os_release`` is a key of ``OS_RELEASES`` or a whole file.
``route=False`` leaves out the default route: an air-gapped host (lo still holds ``ADDRESS``).

Only what needs a real machine or cluster is stubbed (``STUBBED``): each stub records its
argv and stdin (``tests.support.Stubs``) and then runs its ``DEFAULT_BEHAVIOUR`` snippet, which
keeps the little state a real command would (installed packages and holds, enabled units,
sysctl values, SELinux mode under ``/var/lib/kubeinit-stubs/``; loaded modules as
``/sys/module/NAME``); ``behaviour={name: snippet}`` replaces one. The stubbed package managers
install containerd ``$CONTAINERD_VERSION`` (1.x or 2.x: ``containerd config default`` follows)
and the newest patch (.3) of the kubernetes repository's minor, or the exact version asked for.
``dpkg -i`` and ``rpm -U`` record the real package files they are given (read with the real
``dpkg-deb`` and ``rpm -qp``); ``ctr`` imports real OCI archives into a list of image names.

A script piped to bash shares its stdin with the commands it runs: like the installers (whose
last line is ``{ main "$@"; }``), a test script must be read whole before a stub reads stdin.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support import Run, Stubs

CACHE = Path("/var/cache/kubeinit-tests")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# minbase has bash, coreutils, sed, grep, mawk, util-linux; the installer also reads ip and ss; the
# rpm stub reads real .rpm files (air-gap bundles of the RHEL family) with the real rpm.
PACKAGES = ("iproute2", "rpm")
ADDRESS = "10.0.0.5"
STUB_DIR = "/opt/kubeinit-stubs"  # inside the root
STATE = "/var/lib/kubeinit-stubs"  # inside the root: what the stubs remember between calls
PATH = f"{STUB_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OS_RELEASES = {
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    "ubuntu2404": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
    'VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
    "rocky9": 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
    'VERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n',
    "alpine": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n',
}

# `containerd config default`, abridged to the parts the installer touches, for both layouts.
CONTAINERD_1_CONFIG = """\
disabled_plugins = []
imports = []
oom_score = 0
root = "/var/lib/containerd"
state = "/run/containerd"
version = 2

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]

  [plugins."io.containerd.grpc.v1.cri"]
    disable_apparmor = false
    enable_selinux = false
    sandbox_image = "registry.k8s.io/pause:3.6"

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/opt/cni/bin"
      conf_dir = "/etc/cni/net.d"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            BinaryName = ""
            NoPivotRoot = false
            SystemdCgroup = false
"""
CONTAINERD_2_CONFIG = """\
version = 3
root = '/var/lib/containerd'
state = '/run/containerd'
disabled_plugins = []

[grpc]
  address = '/run/containerd/containerd.sock'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false

    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
          runtime_type = 'io.containerd.runc.v2'

          [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
            BinaryName = ''
            SystemdCgroup = false

    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dir = '/opt/cni/bin'
      conf_dir = '/etc/cni/net.d'
"""

STUBBED = [
    "apt-get", "apt-mark", "dpkg-query", "dnf", "rpm",  # package managers and their database
    "systemctl", "containerd", "kubeadm", "kubelet", "kubectl", "crictl",
    "modprobe", "sysctl", "swapoff", "setenforce", "getenforce",
    "curl", "gpg",  # network downloads (repository keys)
    "dpkg", "apt-cache", "ctr", "skopeo",  # air-gap bundles: install, build, images
]

_PKGS = f"{STATE}/packages"  # "name version" lines: what the stubbed package managers installed
DEFAULT_BEHAVIOUR = {
    # Installs record "name version"; kube packages take the newest patch of the repository's minor.
    "apt-get": f"""[ "$1" = install ] || [ "$2" = install ] || [ "$3" = install ] || exit 0
mkdir -p {STATE}; minor=$(sed -n 's|.*/core:/stable:/v\\([0-9.]*\\)/.*|\\1|p' /etc/apt/sources.list.d/kubernetes.list 2>/dev/null)
for a in "$@"; do case $a in -*|install) ;; *=*) v=${{a#*=}}; echo "${{a%%=*}} ${{v%\\*}}1.1" >>{_PKGS} ;;
kube*) echo "$a $minor.3-1.1" >>{_PKGS} ;; containerd) echo "$a ${{CONTAINERD_VERSION:-1.6.20~ds1-1+b1}}" >>{_PKGS} ;;
*) echo "$a 1.0-1" >>{_PKGS} ;; esac; done""",
    "dnf": f"""case " $* " in *" install "*) ;; *) exit 0 ;; esac
mkdir -p {STATE}; minor=$(sed -n 's|.*/core:/stable:/v\\([0-9.]*\\)/.*|\\1|p' /etc/yum.repos.d/kubernetes.repo 2>/dev/null | head -n1)
for a in "$@"; do case $a in -*|install) ;; kube*-[0-9]*) n=${{a%%-[0-9]*}}; v=${{a#"$n"-}}; echo "$n ${{v%\\*}}150500.1.1" >>{_PKGS} ;;
kube*) echo "$a $minor.3-150500.1.1" >>{_PKGS} ;; containerd.io) echo "$a ${{CONTAINERD_VERSION:-1.7.22-3.1.el9}}" >>{_PKGS} ;;
*) echo "$a 1.0-1" >>{_PKGS} ;; esac; done""",
    "dpkg-query": f"""eval "p=\\${{$#}}"; v=$(awk -v p="$p" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
[ -n "$v" ] || {{ echo "dpkg-query: no packages found matching $p" >&2; exit 1; }}
printf '%s' "install ok installed $v\"""",  # as with -f='${Status} ${Version}'
    # rpm -qp reads a real .rpm (the real rpm); rpm -U records each file's NAME VERSION-RELEASE.
    "rpm": f"""case $1 in -qp) exec /usr/bin/rpm "$@" ;;
  -U|-Uvh|-i|-ivh) shift; mkdir -p {STATE}; for f in "$@"; do
    nv=$(/usr/bin/rpm -qp --qf '%{{NAME}} %{{VERSION}}-%{{RELEASE}}' "$f" 2>/dev/null) || {{ echo "error: $f: not an rpm package (or package manifest)" >&2; exit 1; }}
    echo "$nv" >>{_PKGS}; done; exit 0 ;; esac
eval "p=\\${{$#}}"; v=$(awk -v p="$p" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
[ -n "$v" ] || {{ echo "package $p is not installed"; exit 1; }}
echo "$v\"""",
    "containerd": f"""v=$(awk '$1 ~ /^containerd/ {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
case $1 in
  --version) echo "containerd github.com/containerd/containerd ${{v%%[~-]*}} ${{v}}" ;;
  config) case $v in 2.*) cat <<'EOF'
{CONTAINERD_2_CONFIG}EOF
  ;; *) cat <<'EOF'
{CONTAINERD_1_CONFIG}EOF
  ;; esac ;;
esac""",
    # Units remember enable/start; is-enabled and is-active answer from that.
    "systemctl": f"""mkdir -p {STATE}/units; now=0
for a in "$@"; do case $a in --now) now=1 ;; esac; done
for a in "$@"; do case $a in -*) ;; *) unit=$a ;; esac; done
case $1 in
  enable) touch "{STATE}/units/$unit.enabled"; [ "$now" = 0 ] || touch "{STATE}/units/$unit.active" ;;
  start|restart) touch "{STATE}/units/$unit.active" ;;
  disable|stop) rm -f "{STATE}/units/$unit.enabled" "{STATE}/units/$unit.active" ;;
  is-enabled) [ -e "{STATE}/units/$unit.enabled" ] ;;
  is-active) [ -e "{STATE}/units/$unit.active" ] ;;
esac""",
    "modprobe": 'for a in "$@"; do case $a in -*) ;; *) mkdir -p "/sys/module/$a" ;; esac; done',
    "apt-mark": f"""mkdir -p {STATE}; case $1 in
  hold) shift; for a in "$@"; do echo "$a" >>{STATE}/held; done ;;
  unhold) shift; for a in "$@"; do sed -i "/^$a\\$/d" {STATE}/held 2>/dev/null; done ;;
  showhold) sort -u {STATE}/held 2>/dev/null || true ;;
esac""",
    "sysctl": f"""mkdir -p {STATE}; case $1 in
  -n) cat "{STATE}/sysctl.$2" 2>/dev/null || echo 0 ;;
  --system|-p) cat /etc/sysctl.d/*.conf 2>/dev/null | sed -n 's/^\\([a-z0-9_.]*\\) *= *\\(.*\\)/\\1 \\2/p' |
    while read -r k v; do echo "$v" >"{STATE}/sysctl.$k"; done ;;
esac""",
    # swapoff -a empties the machine's fake /proc/swaps (when it has one: Machine(swaps=...)).
    "swapoff": """if [ "$1" = -a ]; then h=$(head -n1 /proc/swaps); printf '%s\\n' "$h" 2>/dev/null >/proc/swaps || true; fi""",
    "getenforce": f'cat {STATE}/selinux 2>/dev/null || echo Enforcing',
    "setenforce": f'mkdir -p {STATE}; [ "$1" = 0 ] && echo Permissive >{STATE}/selinux || echo Enforcing >{STATE}/selinux',
    # kubeadm init writes the admin kubeconfig as the real one does; the rest answers queries.
    "kubeadm": f"""case $1 in
  init) mkdir -p /etc/kubernetes/manifests; echo "apiVersion: v1
kind: Config" >/etc/kubernetes/admin.conf; touch /etc/kubernetes/kubelet.conf ;;
  join) mkdir -p /etc/kubernetes; touch /etc/kubernetes/kubelet.conf ;;
  reset) rm -rf /etc/kubernetes/manifests /etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/pki ;;
  token) echo "kubeadm join {ADDRESS}:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:{"0" * 62}aa" ;;
  version) v=$(awk '$1 == "kubeadm" {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null); [ -n "$v" ] || exit 127; echo "v${{v%%-*}}" ;;
  config) echo "registry.k8s.io/pause:3.10.1" ;;
esac""",
    "kubectl": """case "$*" in
  *"get --raw"*readyz*) echo ok ;;
  *"get nodes"*) echo "node1" ;;
  *"wait"*) echo "node/node1 condition met" ;;
esac""",
    # dpkg -i records each real .deb's Package and Version (read with the real dpkg-deb, which fails
    # on a file that is no .deb, as dpkg does); everything else is the real dpkg.
    "dpkg": f"""case $1 in -i|--install) shift; mkdir -p {STATE}; rc=0
for f in "$@"; do n=$(dpkg-deb -f "$f" Package) && v=$(dpkg-deb -f "$f" Version) || {{ echo "dpkg: error processing archive $f (--install):" >&2; rc=1; continue; }}
echo "$n $v" >>{_PKGS}; echo "Setting up $n ($v) ..."; done; exit $rc ;; esac
exec /usr/bin/dpkg "$@\"""",
    # ctr -n k8s.io images ls -q / import FILE: names from the OCI archive's index.json as containerd's
    # client/import.go (imageName) takes them: io.containerd.image.name, else org.opencontainers.image.ref.name;
    # an archive without oci-layout and index.json fails like the importer ("unrecognized image format").
    "ctr": f"""mkdir -p {STATE}; case " $* " in
  *" images ls "*|*" image ls "*|*" i ls "*) cat {STATE}/images 2>/dev/null; exit 0 ;;
  *" images tag "*) eval "dst=\\${{$#}}"; echo "$dst" >>{STATE}/images; echo "$dst" ;;
  *" import "*) eval "f=\\${{$#}}"; idx=$(tar -xOf "$f" index.json 2>/dev/null) && tar -tf "$f" oci-layout >/dev/null 2>&1 ||
    {{ echo "ctr: unrecognized image format" >&2; exit 1; }}
    names=$(printf '%s' "$idx" | grep -o '"io.containerd.image.name" *: *"[^"]*"' | sed 's/.*: *"//; s/"$//')
    [ -n "$names" ] || names=$(printf '%s' "$idx" | grep -o '"org.opencontainers.image.ref.name" *: *"[^"]*"' | sed 's/.*: *"//; s/"$//')
    for n in $names; do echo "$n" >>{STATE}/images; echo "unpacking $n...done"; done ;;
esac""",
    # Repository keys: curl prints an armoured key, gpg --dearmor writes it where asked.
    "curl": """out=/dev/stdout; prev=; for a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done
printf '%s\\n' "-----BEGIN PGP PUBLIC KEY BLOCK-----" "stub key for $prev" "-----END PGP PUBLIC KEY BLOCK-----" >"$out\"""",
    "gpg": """out=; prev=; in=$stdin_file; for a in "$@"; do [ "$prev" = -o ] || [ "$prev" = --output ] && out=$a; prev=$a; done
[ -f "$prev" ] && [ "$prev" != "$out" ] && in=$prev
[ -z "$out" ] || cp "$in" "$out\"""",
}


def _key() -> str:
    recipe = "\n".join([SUITE, MIRROR, "minbase", *PACKAGES, "1"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base() -> Path:
    """The cached root file system, built by debootstrap when missing, stale or broken."""
    tree = CACHE / f"rootfs-{SUITE}-{_key()}"
    if _complete(tree):
        os.utime(tree / ".kubeinit-complete")  # in use: other recipes' builds keep it
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # one build at a time, across test processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        return tree if _complete(tree) else _build(tree)


def _complete(tree: Path) -> bool:
    return (tree / ".kubeinit-complete").exists() and (tree / "bin/bash").exists()


def _build(tree: Path) -> Path:
    # Broken builds, and other recipes' trees unused for a day (another checkout may still use a
    # younger one: branches with other recipes share this cache).
    for stale in [*CACHE.glob("rootfs-*"), *CACHE.glob(".building-*")]:
        stamp = stale / ".kubeinit-complete"
        if stale.name.startswith(".building-") or not stamp.exists() or time.time() - stamp.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
    building = CACHE / f".building-{os.getpid()}"
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(building), MIRROR]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    subprocess.run(["rm", "-rf", str(building / "var/cache/apt/archives"), str(building / "var/lib/apt/lists")], check=True)
    (building / "var/lib/apt/lists/partial").mkdir(parents=True)
    (building / ".kubeinit-complete").write_text(_key() + "\n")
    building.rename(tree)
    return tree


class Machine:
    """One test's host: a fresh overlay on the cached tree (see the module docstring)."""

    def __init__(self, directory: Path, behaviour: dict[str, str] | None = None,
                 os_release: str = "debian12", swaps: str | None = None, route: bool = True):
        self.lower = base()
        self.upper, self.work, self.merged = directory / "upper", directory / "work", directory / "merged"
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        self.swaps = None
        if swaps is not None:
            self.swaps = directory / "swaps"
            self.swaps.write_text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + swaps)
        self.stubs = Stubs(self.upper / STUB_DIR.lstrip("/"), STUBBED, {**DEFAULT_BEHAVIOUR, **(behaviour or {})},
                           log_path=f"{STUB_DIR}/calls.log")
        self.write("/etc/os-release", OS_RELEASES.get(os_release, os_release))
        self.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        self._baseline: dict[str, str] | None = None  # taken just before the first run
        self.route = route  # False: lo holds ADDRESS but there is no default route (an air-gapped host)

    def path(self, inside: str) -> Path:
        """Where a path of the machine lies in its upper directory (the layer the runs write)."""
        return self.upper / inside.lstrip("/")

    def write(self, inside: str, content: str, mode: int = 0o644) -> None:
        path = self.path(inside)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_text(content)
        path.chmod(mode)

    def read(self, inside: str) -> str | None:
        """A file's content as the machine sees it (upper over lower); None when absent."""
        upper = self.path(inside)
        if upper.exists() and upper.is_file():
            return upper.read_text()
        if os.path.lexists(upper) and upper.is_char_device():  # an overlay whiteout: deleted
            return None
        lower = self.lower / inside.lstrip("/")
        return lower.read_text() if lower.is_file() else None

    def exists(self, inside: str) -> bool:
        upper = self.path(inside)
        if os.path.lexists(upper):
            return not upper.is_char_device()
        return os.path.lexists(self.lower / inside.lstrip("/"))

    def run(self, script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
        if self._baseline is None:
            self._baseline = self.snapshot()
        mounts = [
            f"mount -t overlay overlay -o lowerdir={self.lower},upperdir={self.upper},workdir={self.work} {self.merged}",
            f"mount -t proc proc {self.merged}/proc",
            f"mount --bind /dev {self.merged}/dev",
            "ip link set lo up",
            f"ip addr add {ADDRESS}/24 dev lo",
        ]
        if self.route:
            mounts.append(f"ip route add default dev lo src {ADDRESS}")
        if self.swaps:
            mounts.append(f"mount --bind {self.swaps} {self.merged}/proc/swaps")
        variables = {"PATH": PATH, "HOME": "/root", "LC_ALL": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb",
                     "STUB_LOG": f"{STUB_DIR}/calls.log", **(env or {})}
        inner = "set -e\n" + "\n".join(mounts) + f'\nexec chroot {self.merged} /usr/bin/env -i "$@"\n'
        command = ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", inner, "sh",
                   *(f"{k}={v}" for k, v in variables.items()), "bash", "-s", *args]
        proc = subprocess.run(command, input=script, capture_output=True, text=True, timeout=timeout, check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def calls(self) -> list[list[str]]:
        return self.stubs.calls()

    def commands(self) -> list[str]:
        """The stubbed calls as one line each ("kubeadm init --config ..."), for order checks."""
        return [" ".join(call) for call in self.calls()]

    def snapshot(self) -> dict[str, str]:
        """Every path the machine's upper layer holds (outside /tmp and the stubs), with a digest."""
        result = {}
        for path in sorted(self.upper.rglob("*")):
            inside = "/" + str(path.relative_to(self.upper))
            if inside.startswith(("/tmp/", STUB_DIR + "/")) or path.is_dir() and not path.is_symlink():
                continue
            if path.is_symlink():
                digest = "-> " + os.readlink(path)
            elif path.is_char_device():
                digest = "deleted"
            else:
                digest = f"{path.stat().st_mode:o} " + hashlib.sha256(path.read_bytes()).hexdigest()
            result[inside] = digest
        return result

    def changes(self) -> dict[str, str]:
        """What the runs changed (since just before the first): {path: digest or "deleted"}."""
        now = self.snapshot()
        baseline = now if self._baseline is None else self._baseline
        return {p: d for p, d in now.items() if baseline.get(p) != d}
