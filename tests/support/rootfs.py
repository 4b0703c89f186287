"""An isolated Debian 12 host to run the rendered installers in, end to end (needs root).

    machine = Machine(tmp_path, os_release="rocky9", swaps="/swap.img file 1024 0 -2\n",
                      behaviour={"kubectl": 'echo "node1 Ready"'})
    machine.write("/etc/fstab", text)             # shape the host before a run
    machine = Machine(tmp_path, distro="rocky8", arch="arm64", packages={"containerd.io": "1.7.27-3.1.el8"},
                      cpus=1, memory_kb=1500000)  # a host shaped by tests/support/distros/rocky8.toml
    machine.hold_apt_lock(2)                      # the next 2 apt-get runs meet unattended-upgrades' lock
    result = machine.run(script, "dry-run", env={"NAME": "value"})  # -> Run
    machine.read("/etc/sysctl.d/…")               # what the runs left behind (None: absent)
    machine.calls(), machine.commands()           # stubbed commands in call order: argv lists, lines
    machine.stubs.stdin(i)                        # what the i-th stubbed call read on stdin
    machine.changes()                             # {path: digest or "deleted"}: what the runs changed
    machine.snapshot()                            # the same for everything in the upper layer

``base(suite)`` builds a root file system once with ``debootstrap --variant=minbase`` and keeps it
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
``/proc/swaps`` over it, ``memory_kb=`` a fake ``/proc/meminfo``); ``cpus=`` runs it under ``taskset``.
``os_release`` is a key of ``OS_RELEASES`` or a whole file. ``distro=`` (a facts file of
``tests/support/distros/``) shapes the host instead: its os-release, cgroup version (no v2 marker on
v1), ``uname -m``/``-r`` for ``arch``, what its repositories offer, and its Debian suite's own root.
``route=False`` leaves out the default route: an air-gapped host (lo still holds ``ADDRESS``).
``root_packages=`` gives the root more Debian packages (a variant of the cached tree, e.g. ``DNF_ROOT``).

Only what needs a real machine or cluster is stubbed (``STUBBED``; ufw runs for real, see
tests/support/firewall_stubs.py, and ``prepare(script)`` sets a host up with the real tools
before the test): each stub records its
argv and stdin (``tests.support.Stubs``) and then runs its ``DEFAULT_BEHAVIOUR`` snippet, which
keeps the little state a real command would (installed packages and holds, enabled units,
sysctl values, SELinux mode under ``/var/lib/kubeinit-stubs/``; loaded modules as
``/sys/module/NAME``); ``behaviour={name: snippet}`` replaces one. The stubbed package managers
install what the repositories offer (``{STATE}/repository``, from the facts: the distribution's
containerd, and Docker's containerd.io once its repository is configured), the version asked for
or the newest, and the newest patch (.3) of the kubernetes repository's minor, or the exact version
asked for; what they cannot find fails as apt-get (exit 100) and dnf (exit 1) do. ``containerd``
exists only once a package brought it (``packages=`` installs some before the first run); its
``--version`` and ``config default`` follow the package and its major version.
kubeadm and kubectl share a stubbed cluster under ``CLUSTER`` (see there): ``kubeadm init`` writes
admin.conf and the static pod manifests first, as the real one does, and fails on a trigger file
after writing them; kubectl's reads answer in kubectl's formats (custom-columns, -o name,
jsonpath) and errors (NotFound, connection refused) from that state, and ``machine.behave(name,
snippet)`` gives one stub another behaviour between runs (an outage that a re-run no longer meets).
The air-gap tests install real package files with the real apt and dpkg, or rpm (tests/support/aptrepo.py,
rpmrepo.py); ``ctr`` imports real OCI archives into a list of image names.

A script piped to bash shares its stdin with the commands it runs: like the installers (one brace
group, read whole), a test script must be read whole before a stub reads stdin.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from tests.support import Run, Stubs
from tests.support.firewall_stubs import BEHAVIOUR as FIREWALL_BEHAVIOUR

CACHE = Path("/var/cache/kubeinit-tests")
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# minbase has bash, coreutils, sed, grep, mawk, util-linux; the installer also reads ip and ss; the
# rpm stub reads real .rpm files with the real rpm (the RHEL family's air-gap tests run it for real: rpmrepo.py); ufw is the
# real firewall (its iptables rules live in each run's private network namespace, loaded at "boot"
# as ufw.service does: Machine.run), and procps gives ufw-init the sysctl it runs; ca-certificates
# brings the real update-ca-certificates (ca_bundle); curl and gpg are the real ones where a test asks for
# real packaging (Machine(real=REAL_PACKAGING): tests/support/aptrepo.py).
PACKAGES = ("iproute2", "rpm", "ufw", "procps", "ca-certificates", "curl", "gpg")
ADDRESS = "10.0.0.5"
STUB_DIR = "/opt/kubeinit-stubs"  # inside the root
STATE = "/var/lib/kubeinit-stubs"  # inside the root: what the stubs remember between calls
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PATH = f"{STUB_DIR}:{SYSTEM_PATH}"

OS_RELEASES = {
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
    "ubuntu2404": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
    'VERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n',
    "rocky9": 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
    'VERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n',
    "alpine": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n',
}

# `containerd config default` for both layouts: 1.x's (an empty registry config_path) as the real binaries print it,
# Debian 12's 1.6 and Debian 13's 1.7 (CONTAINERD_1_CONFIG, CONTAINERD_1_7_CONFIG, recorded fixtures), and 2.x's (2.0
# to 2.2 of Docker's containerd.io: config_path '/etc/containerd/certs.d:/etc/docker/certs.d', the CRI image service's
# default Registry.ConfigPath in internal/cri/config DefaultImageConfig until containerd commit 1d77b68f0, which moved
# it into the plugin's start: Debian unstable's 2.1.9 prints '', fixtures/containerd-2.1-config-default.toml), abridged
# to the parts the installer touches.
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

    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '/etc/containerd/certs.d:/etc/docker/certs.d'

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
    "update-ca-trust",  # the RHEL family's trust store (Debian's update-ca-certificates runs for real)
    "curl", "gpg",  # network downloads (repository keys)
    "firewall-cmd",  # firewalld: its client talks to the daemon over D-Bus (firewall_stubs); ufw is real
    "dpkg", "apt-cache", "ctr", "skopeo",  # air-gap bundles: install, build, images
]

# The package tools a Machine(real=REAL_PACKAGING) runs for real, against the signed HTTPS repositories of
# tests/support/aptrepo.py: apt's and dpkg's own solver, pins, holds, locks and signature checks.
REAL_PACKAGING = ("apt-get", "apt-mark", "apt-cache", "dpkg", "dpkg-query", "curl", "gpg")

# What preflight may run on any host, all of them reads: the package database (which containerd is
# installed) and whether a host firewall runs. Tests of "nothing changed before this refusal" allow these.
PREFLIGHT_READS = ("dpkg-query -W", "rpm -q", "firewall-cmd --state", "ufw status")


def only_preflight_reads(machine: "Machine", also: tuple[str, ...] = ()) -> bool:
    """Whether every stubbed call of the machine's runs so far was one of PREFLIGHT_READS (or ``also``)."""
    return all(c.startswith(PREFLIGHT_READS + also) for c in machine.commands())


_PKGS = f"{STATE}/packages"  # "name version" lines: what the stubbed package managers installed
_REPO = f"{STATE}/repository"  # "name version" lines: what the repositories offer (Machine writes it from the facts)
PACKAGED = f"{STUB_DIR}/packaged"  # stubs of commands a package brings: linked into /usr/bin when it is installed
# command: the packages that bring it (containerd's two; crictl comes with cri-tools only, which kubeadm's package
# stopped depending on in 1.32: kubernetes/release cmd/krel/templates/latest/metadata.yaml).
BROUGHT = {"containerd": ("containerd", "containerd.io"), "crictl": ("cri-tools",)}
# brings NAME: links the stubbed commands package NAME brings into /usr/bin, as installing it does.
_BRINGS = "brings() { case $1 in " + " ".join(
    f"{'|'.join(names)}) ln -sf {PACKAGED}/{command} /usr/bin/{command} ;;" for command, names in BROUGHT.items()) + " esac; }"

# Real apt-get, when another apt or unattended-upgrades holds its locks, exits 100 with these lines (apt's
# apt-pkg/contrib/fileutl.cc GetLock, apt-pkg/deb/debsystem.cc; recorded in tests/support/fixtures/apt-lock.txt).
# A machine's lock is "COUNT PID NAME" in {STATE}/apt-lock: the next COUNT apt-get runs meet it.
_APT_LOCK = f"""if [ -s {STATE}/apt-lock ]; then read -r count pid name <{STATE}/apt-lock
  if [ "$count" -gt 0 ]; then echo "$((count - 1)) $pid $name" >{STATE}/apt-lock
    case " $* " in *" update "*) lock=/var/lib/apt/lists/lock; then_=\"E: Unable to lock directory /var/lib/apt/lists/\" ;;
      *) lock=/var/lib/dpkg/lock-frontend; then_=\"E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?\" ;; esac
    printf '%s\\n' "E: Could not get lock $lock. It is held by process $pid ($name)" \\
      "N: Be aware that removing the lock file is not a solution and may break your system." "$then_" >&2
    exit 100; fi; fi"""
# offered NAME GLOB: the newest version the repositories offer of NAME matching GLOB (Docker's containerd.io only
# once its repository is configured); installed NAME VERSION records it and links the command a package brings.
_REPO_FUNCS = f"""offered() {{ found=; while read -r rn rv; do [ "$rn" = "$1" ] || continue; case $rv in $2) found=$rv ;; esac; done <{_REPO}
  [ "$1" != containerd.io ] || grep -rqs download.docker.com /etc/apt/sources.list /etc/apt/sources.list.d /etc/yum.repos.d || found=
  [ -n "$found" ] && echo "$found"; }}
{_BRINGS}
installed() {{ mkdir -p {STATE}; echo "$1 $2" >>{_PKGS}; brings "$1"; }}"""

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> str:
    """A recorded output under tests/support/fixtures, without its header comment (its source)."""
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    return "".join(lines[next(i for i, line in enumerate(lines) if not line.startswith("# ")):])


CONTAINERD_1_CONFIG = fixture("containerd-1.6-config-default.toml")
CONTAINERD_1_7_CONFIG = fixture("containerd-1.7-config-default.toml")


# The stubbed cluster, as the control plane's kubeadm and kubectl see it (inside the root):
#   up            the API server answers (kubeadm init or a control-plane join wrote it; a failed init
#                 writes "down"); absent, kubectl answers as a cluster reached elsewhere would
#   version       the control plane's version (vX.Y.Z), as kubeadm-config records it
#   nodes         "NAME ROLE READY [KUBELET]" lines; this host's kubelet version is its installed package's
#   cordoned.NAME, etcd-removed, residual (certificates' residual time), kubeadm-init-fails (a trigger)
CLUSTER = f"{STATE}/cluster"
TOKEN_GENERATED = "k8mq3z.xp4w7n2v9c5b1r6t"  # what `kubeadm token generate` answers here
CERTIFICATE_KEY = "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"  # `kubeadm certs certificate-key`
UPLOADED_KEY = "9d1f0c2b7a4e6d8f1a3c5e7b9d0f2a4c6e8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f"  # `init phase upload-certs`
CA_HASH = "sha256:" + "0" * 62 + "aa"
_SH_COMMON = f"""C={CLUSTER}; mkdir -p $C
pv() {{ awk -v p="$1" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null; }}
self=$(uname -n | tr 'A-Z' 'a-z')
"""
# kubeadm: the subcommands the scripts run, with the outputs and refusals of the real tool.
KUBEADM = _SH_COMMON + f"""kv=$(pv kubeadm); kv=v${{kv%%-*}}
cfg=; prev=; for a in "$@"; do [ "$prev" = --config ] && cfg=$a; prev=$a; done
# static_pods: the control plane's static pod manifests, as init, a control-plane join and upgrade write them
# (cmd/kubeadm/app/phases/controlplane/manifests.go GetStaticPodSpecs: the API server, controller-manager and
# scheduler get Env: MergeKubeadmEnvVars(proxyEnvs, ...), where proxyEnvs is cmd/kubeadm/app/util/env.go
# GetProxyEnvVars: every variable of kubeadm's own environment whose name ends in _proxy, in any case, and
# whose value is not empty; etcd's pod, from phases/etcd/local.go GetEtcdPodSpec, gets none of them).
static_pods() {{ mkdir -p /etc/kubernetes/manifests
  proxies=$(env | awk '{{ n = $0; sub(/=.*/, "", n); v = substr($0, length(n) + 2) }} tolower(n) ~ /_proxy$/ && v != "" {{ print n "=" v }}')
  for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
    {{ printf 'apiVersion: v1\\nkind: Pod\\nmetadata:\\n  name: %s\\n  namespace: kube-system\\nspec:\\n  containers:\\n  - name: %s\\n' "$c" "$c"
      if [ "$c" != etcd ] && [ -n "$proxies" ]; then echo "    env:"
        printf '%s\\n' "$proxies" | while IFS= read -r e; do printf '    - name: %s\\n      value: %s\\n' "${{e%%=*}}" "${{e#*=}}"; done; fi
    }} >/etc/kubernetes/manifests/$c.yaml
  done; }}
# images CONFIG ARGS: the control plane's images, one a line, for the --image-repository and --kubernetes-version
# flags or CONFIG's imageRepository, dns.imageRepository and kubernetesVersion (cmd/kubeadm/app/images/images.go,
# GetControlPlaneImages; GetDNSImage: CoreDNS is <dns.imageRepository or imageRepository>/coredns:TAG, the
# coredns/ path added only for registry.k8s.io itself; the pause tag is constants.PauseVersion, which releases
# raise: {CLUSTER}/pause "vX.Y TAG" lines give a minor's kubeadm another than 3.10.1).
images() {{ c=$1; shift; r=registry.k8s.io; v=; dns=; prev=; for a in "$@"; do case $prev in --image-repository) r=$a ;; --kubernetes-version) v=$a ;; esac; prev=$a; done
  if [ -n "$c" ]; then v=$(sed -n 's/^kubernetesVersion: *"*\\([^"]*\\)"*$/\\1/p' "$c")
    r=$(sed -n 's/^imageRepository: *"*\\([^"]*\\)"*$/\\1/p' "$c"); dns=$(sed -n '/^dns:/,/^[^ ]/s/^  imageRepository: *"*\\([^"]*\\)"*$/\\1/p' "$c"); fi
  [ -n "$v" ] || v=v$(awk '$1 == "kubeadm" {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null | cut -d- -f1)
  [ -n "$r" ] || r=registry.k8s.io; [ -n "$dns" ] || dns=$r; [ "$dns" != registry.k8s.io ] || dns=$dns/coredns
  printf '%s\\n' "$r/kube-apiserver:$v" "$r/kube-controller-manager:$v" "$r/kube-scheduler:$v" "$r/kube-proxy:$v" \
    "$dns/coredns:v1.13.1" "$r/pause:$(awk -v m="${{v%.*}}" '$1 == m {{t = $2}} END {{print t ? t : "3.10.1"}}' $C/pause 2>/dev/null || echo 3.10.1)" "$r/etcd:3.6.6-0"; }}
# A renewal gives admin.conf a new client certificate: 'certs renew all', and 'upgrade apply' / 'upgrade node'
# on a control plane, which renew the certificates and the kubeconfigs by default (--certificate-renewal=true;
# kubeadm-certs.md "Automatic certificate renewal"; cmd/kubeadm/app/phases/upgrade/staticpods.go renewCertsByComponent).
renew_admin() {{ [ -e /etc/kubernetes/admin.conf ] || return 0; n=$(cat $C/admin-serial 2>/dev/null || echo 0); n=$((n + 1)); echo $n >$C/admin-serial
  printf 'apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: renewed-%s\n' "$n" >/etc/kubernetes/admin.conf; }}
case "$1 $2" in
  "init phase")
    echo '[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace'
    echo "[upload-certs] Using certificate key:"
    echo {UPLOADED_KEY} ;;
  "init "*|"init")
    [ -n "$cfg" ] || {{ echo "kubeadm init: this stub expects --config" >&2; exit 1; }}
    # preflight's ImagePullCheck (cmd/kubeadm/app/preflight/checks.go) pulls each image the runtime lacks: with no
    # route (an air-gapped host) every image must be in containerd's store (ctr's list) already.
    if [ -z "$(ip route show default 2>/dev/null)" ]; then missing=
      for i in $(images "$cfg"); do grep -qxF "$i" {STATE}/images 2>/dev/null || missing="$missing $i"; done
      if [ -n "$missing" ]; then echo "error execution phase preflight: [preflight] Some fatal errors occurred:" >&2
        for i in $missing; do printf '\\t[ERROR ImagePull]: failed to pull image %s: dial tcp: lookup %s: no such host\\n' "$i" "${{i%%/*}}" >&2; done
        echo "[preflight] If you know what you are doing, you can make a check non-fatal with \\`--ignore-preflight-errors=...\\`" >&2; exit 1; fi
    fi
    mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki
    static_pods
    # etcd's, abridged, as kubeadm's phases/etcd/local.go (GetEtcdPodSpec, getEtcdCommand) writes it
    printf '%s\\n' "kind: Pod" "spec:" "  containers:" "  - command:" "    - etcd" "    - --data-dir=/var/lib/etcd" \\
      "    - --initial-advertise-peer-urls=https://{ADDRESS}:2380" "    - --initial-cluster=$self=https://{ADDRESS}:2380" \\
      "    - --name=$self" "    image: registry.k8s.io/etcd:3.6.6-0" >/etc/kubernetes/manifests/etcd.yaml
    mkdir -p /var/lib/etcd/member/snap; echo kubeinit-stub-bbolt >/var/lib/etcd/member/snap/db
    printf 'apiVersion: v1\\nkind: Config\\n' >/etc/kubernetes/admin.conf; cp /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf
    touch /etc/kubernetes/kubelet.conf
    if [ -e $C/kubeadm-init-fails ]; then  # as a real init whose control plane never came up
      echo down >$C/up
      echo "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \\"/etc/kubernetes/manifests\\"" 
      echo "error execution phase wait-control-plane: could not initialize a Kubernetes cluster" >&2; exit 1
    fi
    v=$(sed -n 's/^kubernetesVersion: *"*\\(v[0-9.]*\\).*/\\1/p' "$cfg"); echo "$v" >$C/version
    ep=$(sed -n 's/^controlPlaneEndpoint: *"*\\([^"]*\\)"*/\\1/p' "$cfg")
    [ -n "$ep" ] || ep=$(sed -n 's/^  advertiseAddress: *"*\\([0-9.]*\\).*/\\1/p' "$cfg"):6443
    echo up >$C/up; echo "$self control-plane True" >$C/nodes
    case " $* " in *" --skip-token-print "*) ;; *) echo "kubeadm init: this stub expects --skip-token-print" >&2; exit 1 ;; esac
    if [ -n "$(sed -n 's/^controlPlaneEndpoint: //p' "$cfg")" ]; then cp="s/^#?cp \\{{0,1\\}}//"; else cp="/^#?cp/d"; fi
    sed -e "$cp" -e "s|__ENDPOINT__|$ep|g" -e "s|__HASH__|{CA_HASH}|g" -e "s|__VERSION__|$v|g" <<'KUBEADM_INIT'
{fixture("kubeadm-init.txt")}KUBEADM_INIT
    ;;
  "join "*)
    [ -n "$cfg" ] || {{ echo "kubeadm join: this stub expects --config" >&2; exit 1; }}
    mkdir -p /etc/kubernetes; touch /etc/kubernetes/kubelet.conf; [ -s $C/version ] || echo "$kv" >$C/version
    if grep -q '^controlPlane:' "$cfg"; then
      mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki
      static_pods
      printf 'apiVersion: v1\\nkind: Config\\n' >/etc/kubernetes/admin.conf; echo up >$C/up
      grep -q "^$self " $C/nodes 2>/dev/null || echo "$self control-plane True" >>$C/nodes
      echo "This node has joined the cluster and a new control plane instance was created:"
    else
      echo "This node has joined the cluster:"
    fi
    echo "* Certificate signing request was sent to apiserver and a response was received." ;;
  # reset also empties local etcd's data directory (cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go: the
  # etcd data dir from the static pod joins the stateful directories that cleanupnode.go CleanDir empties).
  "reset "*) rm -rf /etc/kubernetes/manifests /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/pki $C
    [ ! -d /var/lib/etcd ] || find /var/lib/etcd -mindepth 1 -delete ;;
  "token create") echo "kubeadm join ${{KUBEADM_API:-{ADDRESS}:6443}} --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash {CA_HASH}" ;;
  "token generate") echo {TOKEN_GENERATED} ;;
  "certs certificate-key") echo {CERTIFICATE_KEY} ;;
  "certs check-expiration")
    [ -e /etc/kubernetes/admin.conf ] || {{ echo "error: open /etc/kubernetes/admin.conf: no such file or directory" >&2; exit 1; }}
    r=$(cat $C/residual 2>/dev/null || echo 364d)
    sed -e "s/__EXPIRES__/Nov 30, 2027 22:10 UTC/" -e "s/__RESIDUAL__ /$(printf '%-14s' "$r")/" <<'KUBEADM_CERTS'
{fixture("kubeadm-certs-check-expiration.txt")}KUBEADM_CERTS
    ;;
  "certs renew")
    echo 364d >$C/residual; renew_admin
    echo "[renew] Reading configuration from the cluster..."
    echo "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed"
    echo "certificate for serving the Kubernetes API renewed"
    echo
    echo "Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates." ;;
  "upgrade plan")
    echo "[upgrade/config] Reading configuration from the \\"kubeadm-config\\" ConfigMap in namespace \\"kube-system\\"..."
    echo "[upgrade] Running cluster health checks"
    echo "[upgrade] Fetching available versions to upgrade to"
    echo "[upgrade/versions] Cluster version: $(cat $C/version)"
    echo "[upgrade/versions] kubeadm version: $kv"
    echo
    echo "You can now apply the upgrade by executing the following command:"
    echo
    echo "	kubeadm upgrade apply ${{3:-$kv}}" ;;
  "upgrade apply")
    want=$3; cur=$(cat $C/version)
    case " $* " in *" --yes "*|*" -y "*|*" --force "*) ;; *) echo "[upgrade] Are you sure you want to proceed? [y/N]: "; echo "won't proceed; the user didn't answer (Y|y) in order to continue" >&2; exit 1 ;; esac
    if [ "$(printf '%s\\n%s\\n' "$want" "$kv" | sort -V | tail -n1)" != "$kv" ]; then
      printf '[upgrade/version] FATAL: the --version argument is invalid due to these errors:\\n\\n\\t- Specified version to upgrade to "%s" is higher than the kubeadm version "%s". Upgrade kubeadm first using the tool you used to install kubeadm\\n' "$want" "$kv" >&2; exit 1
    fi
    wm=${{want#v}}; wm=${{wm%.*}}; cm=${{cur#v}}; cm=${{cm%.*}}
    if [ "${{wm#*.}}" -gt $((${{cm#*.}} + 1)) ]; then
      printf '[upgrade/version] FATAL: Specified version to upgrade to "%s" is too high; kubeadm can upgrade only 1 minor version at a time\\n' "$want" >&2; exit 1
    fi
    echo "$want" >$C/version; static_pods; renew_admin
    echo "[upgrade] Backing up kubelet config file to /etc/kubernetes/tmp/kubeadm-kubelet-config.yaml"
    echo "[upgrade] SUCCESS! A control plane node of your cluster was upgraded to \\"$want\\"." ;;
  "upgrade node")
    [ -e /etc/kubernetes/kubelet.conf ] || {{ echo "couldn't create a Kubernetes client from file \\"/etc/kubernetes/kubelet.conf\\"" >&2; exit 1; }}
    [ ! -e /etc/kubernetes/manifests/kube-apiserver.yaml ] || {{ static_pods; renew_admin; }}  # a control plane's pods are upgraded too
    echo "[upgrade] The configuration for this node was successfully upgraded!" ;;
  "version -o") [ "$kv" != v ] || exit 127; echo "$kv" ;;
  # 'config images list': one image a line, from the flags or the --config file (images.GetControlPlaneImages).
  "config images") images "$cfg" "$@" ;;
esac
"""
# etcd's snapshot tools, as kubectl exec (etcdctl, etcdutl in the etcd pod) and ctr run (etcdutl from the etcd
# image) reach them. A stub snapshot is text: a magic first line, the cluster's state, and the sha256 of what
# precedes it on its last line (the server appends one: etcdutl/snapshot/v3_snapshot.go hasChecksum).
# etcdctl snapshot save writes PATH.part and renames it, then prints "Snapshot saved at PATH" (client/v3/snapshot
# v3_snapshot.go SaveWithVersion; etcdctl/ctlv3/command/snapshot_command.go). etcdutl snapshot status -w json
# prints Status as json.Marshal writes it (hash, revision, totalKey, totalSize, version), and fails as v3Manager.Status
# does: the os.Stat error, bbolt's "invalid database" for a file that is none; snapshot restore refuses a data-dir
# that is not empty, a snapshot without its hash or with another one (copyAndVerifyDB). Errors go through
# cobrautl.ExitWithError: "Error: ..." on stderr, exit 1.
_ETCD = f"""etcd_fail() {{ echo "Error: $*" >&2; exit 1; }}
etcd_sum() {{ sed '$d' "$1" | sha256sum | cut -d' ' -f1; }}
etcdctl_save() {{ mkdir -p "$(dirname "$1")"; {{ echo kubeinit-stub-bbolt; echo "revision $(cat {CLUSTER}/etcd-revision 2>/dev/null || echo 4242)"
  cat {CLUSTER}/nodes {CLUSTER}/version 2>/dev/null; }} >"$1.part"; echo "sha256 $(sha256sum <"$1.part" | cut -d' ' -f1)" >>"$1.part"
  mv "$1.part" "$1"; echo "Snapshot saved at $1"; }}
etcdutl_status() {{ [ -e "$1" ] || etcd_fail "stat $1: no such file or directory"; [ "$(head -n1 "$1")" = kubeinit-stub-bbolt ] || etcd_fail "invalid database"
  printf '{{"hash":%s,"revision":%s,"totalKey":%s,"totalSize":%s,"version":"3.6.0"}}\\n' "$(cksum <"$1" | cut -d' ' -f1)" \\
    "$(sed -n 's/^revision //p' "$1")" "$(($(wc -l <"$1") - 3))" "$(($(wc -c <"$1") * 512))"; }}
etcdutl_restore() {{ f=$1; shift; d=; prev=; for a in "$@"; do [ "$prev" = --data-dir ] && d=$a; prev=$a; done
  [ -n "$d" ] || etcd_fail 'required flag(s) "data-dir" not set'; [ -e "$f" ] || etcd_fail "open $f: no such file or directory"
  [ -z "$(ls -A "$d" 2>/dev/null)" ] || etcd_fail "data-dir \\"$d\\" not empty or could not be read"
  tail -n1 "$f" | grep -q '^sha256 ' || etcd_fail "snapshot missing hash but --skip-hash-check=false"
  [ "$(tail -n1 "$f")" = "sha256 $(etcd_sum "$f")" ] || etcd_fail "expected sha256 $(tail -n1 "$f" | cut -d' ' -f2), got $(etcd_sum "$f")"
  mkdir -p "$d/member/snap" "$d/member/wal"; sed '$d' "$f" >"$d/member/snap/db"; printf '%s\\n' "$*" >"$d/member/wal/0000000000000000-0000000000000000.wal"
  echo '{{"level":"info","msg":"restored snapshot","path":"'"$f"'","data-dir":"'"$d"'"}}' >&2; }}
etcd_tool() {{ case "$1 $2 $3" in *"snapshot save"*) eval "p=\\${{$#}}"; etcdctl_save "$p" ;;
  "etcdutl snapshot status") etcdutl_status "$4" ;; "etcdutl snapshot restore") shift 3; etcdutl_restore "$@" ;; esac; }}
"""
# kubectl: the reads and writes the scripts make, answered from the stubbed cluster with kubectl's
# output formats and errors (NotFound, connection refused).
KUBECTL = _SH_COMMON + _ETCD + f"""refused() {{ echo "The connection to the server {ADDRESS}:6443 was refused - did you specify the right host or port?" >&2; exit 1; }}
up() {{ [ "$(cat $C/up 2>/dev/null || echo up)" = up ] && {{ [ ! -e $C/up ] || [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ]; }}; }}
nodes() {{ if [ -s $C/nodes ]; then cat $C/nodes; else echo "$self control-plane True"; fi; }}
kubelet() {{ if [ "$1" = "$self" ] || [ -z "$2" ]; then v=$(pv kubelet); echo "v${{v%%-*}}"; else echo "$2"; fi; }}
member() {{ printf '%s' "$1" | cksum | awk '{{printf "%08x%08x", $1, $1 % 65521 * $2}}'; }}
addr() {{ if [ "$1" = "$self" ]; then echo {ADDRESS}; else printf '%s' "$1" | cksum | awk '{{printf "10.0.%d.%d", $1 % 200 + 1, int($1 / 200) % 250 + 1}}'; fi; }}
node=; prev=; for a in "$@"; do case $prev in node|drain|uncordon|cordon) node=$a ;; esac; prev=$a; done
case "$*" in
  *"kubelet.conf"*"get --raw /version"*) [ -s $C/version ] || refused
    printf '{{\\n  "major": "1",\\n  "gitVersion": "%s",\\n  "platform": "linux/amd64"\\n}}\\n' "$(cat $C/version)" ;;
  *"get --raw"*readyz*) up || refused; echo ok ;;
  *"get nodes"*custom-columns*) up || refused
    nodes | while read -r n r ready v; do printf '%-24s %-10s %s\\n' "$n" "$(kubelet "$n" "$v")" "$ready"; done ;;
  *"get nodes -l node-role.kubernetes.io/control-plane -o name"*) up || refused; nodes | awk '$2 == "control-plane" {{print "node/" $1}}' ;;
  *"get nodes"*) up || refused; nodes | awk '{{print "node/" $1}}' ;;
  *"get node "*) up || refused
    nodes | awk -v n="$node" '$1 == n {{f = 1}} END {{exit !f}}' || {{ echo "Error from server (NotFound): nodes \\"$node\\" not found" >&2; exit 1; }}
    case "$*" in *unschedulable*) [ ! -e $C/cordoned.$node ] || echo true ;; *"-o name"*) echo "node/$node" ;; esac ;;
  *"get configmap kubeadm-config"*) up || refused; [ -s $C/version ] || {{ echo 'Error from server (NotFound): configmaps "kubeadm-config" not found' >&2; exit 1; }}
    printf 'apiServer: {{}}\\napiVersion: kubeadm.k8s.io/v1beta4\\nkind: ClusterConfiguration\\nkubernetesVersion: %s\\n' "$(cat $C/version)" ;;
  # {CLUSTER}/blocking: "pdb NS/POD" (a PodDisruptionBudget allowing no disruption) or "bare NS/POD" (no controller), as
  # kubectl's pkg/drain reports them: filters.go's fatal filter before any eviction; drain.go evictPods retries a 429
  # every 5 s until --timeout (not waited here), then "global timeout reached".
  # A drain of a node whose kubelet is gone never finishes (kubernetes/kubernetes#85577): no kubelet deletes its
  # pods, and kubectl's waitForDelete (k8s.io/kubectl pkg/drain/drain.go) waits for them until --timeout (here as
  # if it had passed), unless --skip-wait-for-delete-timeout skips pods deleted longer ago (shouldSkipPod).
  "drain "*) up || refused; touch $C/cordoned.$node; echo "node/$node cordoned"
    ready=$(nodes | awk -v n="$node" '$1 == n {{print $3}}')
    if [ "$ready" != True ]; then pod=coredns-7c65d6cfc9-x5k2p
      case " $* " in
        *" --skip-wait-for-delete-timeout="[1-9]*) echo "pod/$pod deleted"
          skip=$(printf '%s\\n' "$@" | sed -n 's/^--skip-wait-for-delete-timeout=//p')
          echo "pod \\"$pod\\" has DeletionTimestamp older than $skip seconds, skipping" ;;
        *" --timeout="*) echo "evicting pod kube-system/$pod"
          echo "error: unable to drain node \\"$node\\" due to error: error when waiting for pod \\"$pod\\" in namespace \\"kube-system\\" to terminate: context deadline exceeded, continuing command..." >&2
          printf 'There are pending nodes to be drained:\\n %s\\n' "$node" >&2
          echo "error: error when waiting for pod \\"$pod\\" in namespace \\"kube-system\\" to terminate: context deadline exceeded" >&2; exit 1 ;;
        *) echo "evicting pod kube-system/$pod"; exec sleep 86400 ;;
      esac
    fi
    # --force lets drain take pods no controller owns, with a warning (filters.go unreplicatedFilter: "deleting Pods
    # that declare no controller"); --disable-eviction deletes pods instead of evicting them, so no
    # PodDisruptionBudget is asked (drain.go DeleteOrEvictPods: deletePods, not evictPods); cmd/drain/drain.go
    # onPodDeletedOrEvicted prints pod/NAME deleted or evicted.
    force=; noevict=; for a in "$@"; do case $a in --force) force=1 ;; --disable-eviction) noevict=1 ;; esac; done
    bare=$(awk '$1 == "bare" {{print $2}}' $C/blocking 2>/dev/null | paste -sd, | sed 's/,/, /g')
    if [ -n "$bare" ] && [ -z "$force" ]; then printf 'There are pending nodes to be drained:\n %s\nerror: cannot delete Pods that declare no controller (use --force to override): %s\n' "$node" "$bare" >&2; exit 1; fi
    [ -z "$bare" ] || printf 'Warning: deleting Pods that declare no controller: %s\n' "$bare" >&2
    pdb=$(awk '$1 == "pdb" {{print $2}}' $C/blocking 2>/dev/null | head -n1)
    if [ -n "$pdb" ] && [ -z "$noevict" ]; then t=300s; for a in "$@"; do case $a in --timeout=*) t=${{a#*=}} ;; esac; done
      echo "evicting pod ${{pdb%/*}}/${{pdb#*/}}"
      printf 'error when evicting pods/"%s" -n "%s" (will retry after 5s): Cannot evict pod as it would violate the pod'"'"'s disruption budget.\n' "${{pdb#*/}}" "${{pdb%/*}}" >&2
      printf 'There are pending nodes to be drained:\n %s\nerror: error when evicting pods/"%s" -n "%s": global timeout reached: %s\n' "$node" "${{pdb#*/}}" "${{pdb%/*}}" "$t" >&2; exit 1; fi
    for pod in $(awk '{{print $2}}' $C/blocking 2>/dev/null); do
      if [ -n "$noevict" ]; then echo "pod/${{pod#*/}} deleted"; else echo "evicting pod $pod"; echo "pod/${{pod#*/}} evicted"; fi
    done
    rm -f $C/blocking  # the pods have left the node
    echo "node/$node drained" ;;
  "uncordon "*) up || refused; if [ -e $C/cordoned.$node ]; then rm $C/cordoned.$node; echo "node/$node uncordoned"; else echo "node/$node already uncordoned"; fi ;;
  "delete node "*) up || refused; n=$3  # the Node object only: a control plane's etcd member stays (etcd-kept)
    nodes | awk -v n="$n" '$1 == n && $2 == "control-plane"' >>$C/etcd-kept
    nodes | awk -v n="$n" '$1 != n && $3 == "True" {{f = 1}} END {{exit f}}' && echo "$n" >>$C/weave-unreclaimed  # no peer left to reclaim
    awk -v n="$n" '$1 != n' $C/nodes >$C/nodes.new; mv $C/nodes.new $C/nodes; echo "node \\"$n\\" deleted" ;;
  *"exec etcd-"*" -- etcdctl "*"snapshot save"*|*"exec etcd-"*" -- etcdutl "*) up || refused
    while [ "$1" != -- ]; do shift; done; shift; t=$1; while [ "$1" != snapshot ]; do shift; done; etcd_tool "$t" "$@" ;;
  *"etcdctl"*"member list"*) {{ nodes; cat $C/etcd-kept 2>/dev/null; }} | while read -r n r ready v; do [ "$r" = control-plane ] || continue
      id=$(member "$n"); a=$(addr "$n"); grep -qx "$id" $C/etcd-removed 2>/dev/null || echo "$id, started, $n, https://$a:2380, https://$a:2379, false"; done ;;
  # endpoint health --cluster (etcdctl ctlv3/command/ep_command.go epHealthCommandFunc, printer_simple.go EndpointHealth):
  # healthy members on stdout, unhealthy ones on stderr, then "Error: unhealthy cluster" and exit 1. A member is
  # healthy when its node is Ready and not listed in etcd-unhealthy.
  *"etcdctl"*"endpoint health"*) bad=0; {{ nodes; cat $C/etcd-kept 2>/dev/null; }} | {{ while read -r n r ready v; do [ "$r" = control-plane ] || continue
      grep -qx "$(member "$n")" $C/etcd-removed 2>/dev/null && continue
      if [ "$ready" = True ] && ! grep -qx "$n" $C/etcd-unhealthy 2>/dev/null; then echo "https://$(addr "$n"):2379 is healthy: successfully committed proposal: took = 2.417ms"
      else echo "https://$(addr "$n"):2379 is unhealthy: failed to commit proposal: context deadline exceeded" >&2; bad=1; fi; done
      [ "$bad" = 0 ] || {{ echo "Error: unhealthy cluster" >&2; exit 1; }}; }} ;;
  *"etcdctl"*"member remove"*) eval "id=\\${{$#}}"; echo "$id" >>$C/etcd-removed; echo "Member $id removed from cluster ef37ad9dc622a7c4" ;;
  *"get pods -l name=weave-net"*) nodes | while read -r n r ready v; do echo "weave-net-$(member "$n" | cut -c12-16) $n"; done ;;
  *"--local rmpeer"*) eval "peer=\\${{$#}}"; echo "65536 IPs taken over from $peer" ;;
  # weave status ipam (site/tasks/ipam/troubleshooting-ipam.md): a peer per node, and a deleted node's peer while
  # no remaining peer's reclaim daemon (kube-utils -run-reclaim-daemon) has taken its range back (weave-unreclaimed).
  *"--local status ipam"*) {{ nodes | awk '{{print $1}}'; cat $C/weave-unreclaimed 2>/dev/null; }} |
    while read -r n; do printf '%s(%s)                     65536 IPs (25.0%% of total)\\n' "$(member "$n" | sed 's/../&:/g; s/:$//' | cut -c1-17)" "$n"; done ;;
  *"wait"*) echo "node/$self condition met" ;;
esac
"""
# crictl: the containers the kubelet runs. Static pods run while their manifest is in /etc/kubernetes/manifests (the
# kubelet stops them once it is gone, and starts a stopped one again), named after the file, in kube-system;
# {CLUSTER}/containers adds workload containers, "NAME NAMESPACE" a line. As cri-tools' cmd/crictl/container.go
# (ListContainers, filterContainersList) decides: 'ps' lists running containers (-a all), --name and --namespace
# are unanchored regular expressions (regexp.MatchString) on the container's name and the pod's namespace,
# --label KEY=VALUE goes to the runtime's label selector (io.kubernetes.pod.namespace is the pod's namespace),
# -q prints the IDs only (13 characters, truncated). 'stop ID...' prints each ID (StopContainer) and records
# "ID NAME" in {STATE}/crictl-stopped; an unknown ID fails as the runtime's NotFound does. {CLUSTER}/crictl-down:
# the runtime does not answer, and crictl exits 1 with logrus.Fatal's line for the failed connection
# (cmd/crictl/main.go, getRuntimeService).
CRICTL = _SH_COMMON + """if [ -e $C/crictl-down ]; then
  echo 'time="2026-12-07T19:20:00Z" level=fatal msg="validate service connection: validate CRI v1 runtime API for endpoint \\"unix:///run/containerd/containerd.sock\\": rpc error: code = Unavailable desc = connection error: desc = \\"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused\\""' >&2
  exit 1
fi
cid() { printf '%s' "$1" | sha256sum | cut -c1-13; }
running() { for f in /etc/kubernetes/manifests/*.yaml; do [ -f "$f" ] || continue; n=${f##*/}; echo "${n%.yaml} kube-system"; done
  cat $C/containers 2>/dev/null; }
case $1 in
  stop) shift; mkdir -p """ + STATE + """; for id in "$@"
      do found=$(running | while read -r n ns; do [ "$(cid "$n")" != "$id" ] || echo "$n"; done | head -n1)
      [ -n "$found" ] || { echo "FATA[0000] stopping the container \\"$id\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"$id\\": not found" >&2; exit 1; }
      echo "$id $found" >>""" + STATE + """/crictl-stopped; echo "$id"; done; exit 0 ;;
  ps) shift ;;
  *) exit 0 ;;
esac
quiet=0 name= nsre= namespace=; while [ $# -gt 0 ]; do case $1 in -q|--quiet) quiet=1 ;; -a|--all) ;;
  --name) name=$2; shift ;; --name=*) name=${1#*=} ;; --namespace) nsre=$2; shift ;; --namespace=*) nsre=${1#*=} ;;
  --label) case $2 in io.kubernetes.pod.namespace=*) namespace=${2#*=} ;; esac; shift ;; esac; shift; done
running | { [ "$quiet" = 1 ] || echo "CONTAINER       IMAGE      STATE     NAME      ATTEMPT   POD                NAMESPACE"; while read -r n ns; do
  [ -z "$namespace" ] || [ "$ns" = "$namespace" ] || continue
  [ -z "$nsre" ] || printf '%s\\n' "$ns" | grep -Eq -- "$nsre" || continue
  [ -z "$name" ] || printf '%s\\n' "$n" | grep -Eq -- "$name" || continue
  if [ "$quiet" = 1 ]; then cid "$n"; else printf '%s   %s   Running   %s   0   %s-%s   %s\\n' "$(cid "$n")" sha256:0 "$n" "$n" "$self" "$ns"; fi
done; }
"""
DEFAULT_BEHAVIOUR = {
    # Installs record "name version"; kube packages take the newest patch of the repository's minor; the rest
    # the newest version the repository offers ("name=GLOB" one matching GLOB), as apt-get answers otherwise.
    "apt-get": f"""{_APT_LOCK}
{_REPO_FUNCS}
minor=$(sed -n 's|.*/core:/stable:/v\\([0-9.]*\\)/.*|\\1|p' /etc/apt/sources.list.d/kubernetes.list 2>/dev/null)
# update: a keyring holding the expired pkgs.k8s.io key (re-issued, kubernetes/release#3818) fails as apt does:
# the invalid signature warned, the repository refused as unsigned, exit 100 (apt-pkg/acquire-item.cc).
if [ "$1 $2" = "update -q" ] || [ "$1" = update ]; then
  if grep -qs EXPIRED /etc/apt/keyrings/kubernetes-apt-keyring.gpg && [ -n "$minor" ]; then
    r="https://pkgs.k8s.io/core:/stable:/v$minor/deb  InRelease"
    echo "W: GPG error: $r: The following signatures were invalid: EXPKEYSIG 234654DA9A296436 isv:kubernetes OBS Project <isv:kubernetes@build.opensuse.org>" >&2
    echo "E: The repository '$r' is not signed." >&2
    echo "N: Updating from such a repository can't be done securely, and is therefore disabled by default." >&2
    exit 100
  fi
  exit 0
fi
[ "$1" = install ] || [ "$2" = install ] || [ "$3" = install ] || exit 0
for a in "$@"; do case $a in -*|install) ;;
kube*=*) v=${{a#*=}}; installed "${{a%%=*}}" "${{v%\\*}}1.1" ;;
kube*) # an apt pin (apt_preferences(5) "Pin: version GLOB") keeps the candidate at the pinned version: apt says so, exit 0
  pin=$(awk -v p="$a" '/^Package:/ {{m = ($2 == p)}} m && /^Pin: version/ {{print $3; exit}}' /etc/apt/preferences.d/* 2>/dev/null)
  have=$(awk -v p="$a" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
  if [ -n "$pin" ] && [ -n "$have" ]; then case $have in $pin) echo "$a is already the newest version ($have)."; continue ;; esac; fi
  installed "$a" "$minor.3-1.1" ;;
*=*) n=${{a%%=*}}; want=${{a#*=}}; v=$(offered "$n" '*') || {{ echo "E: Unable to locate package $n" >&2; exit 100; }}
  v=$(offered "$n" "$want") || {{ echo "E: Version '$want' for '$n' was not found" >&2; exit 100; }}; installed "$n" "$v" ;;
containerd*) v=$(offered "$a" '*') || {{ echo "E: Unable to locate package $a" >&2; exit 100; }}; installed "$a" "$v" ;;
*) installed "$a" 1.0-1 ;; esac; done""",
    # dnf (4): "No match for argument: X" and "Error: Unable to find a match: X", exit 1, for what no repository has.
    "dnf": f"""{_REPO_FUNCS}
case " $* " in *" install "*) ;; *) exit 0 ;; esac
minor=$(sed -n 's|.*/core:/stable:/v\\([0-9.]*\\)/.*|\\1|p' /etc/yum.repos.d/kubernetes.repo 2>/dev/null | head -n1)
for a in "$@"; do case $a in -*|install) ;; kube*-[0-9]*) n=${{a%%-[0-9]*}}; v=${{a#"$n"-}}; installed "$n" "${{v%\\*}}150500.1.1" ;;
kube*) installed "$a" "$minor.3-150500.1.1" ;;
containerd.io*) case $a in containerd.io-*) want="${{a#containerd.io-}}*" ;; *) want='*' ;; esac
  v=$(offered containerd.io "$want") || {{ echo "No match for argument: $a" >&2; echo "Error: Unable to find a match: $a" >&2; exit 1; }}
  installed containerd.io "$v" ;;
*) installed "$a" 1.0-1 ;; esac; done""",
    # dpkg-query -W -f=FORMAT: FORMAT with ${{Status}} and ${{Version}} filled and its escapes (\\n) read, as dpkg-query does.
    "dpkg-query": f"""eval "p=\\${{$#}}"; v=$(awk -v p="$p" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
[ -n "$v" ] || {{ echo "dpkg-query: no packages found matching $p" >&2; exit 1; }}
f='${{Package}}\\t${{Version}}\\n'; prev=; for a in "$@"; do case $a in -f=*|--showformat=*) f=${{a#*=}} ;; esac; [ "$prev" = -f ] && f=$a; prev=$a; done
f=$(printf '%s' "$f" | sed "s/\\${{Status}}/install ok installed/g; s/\\${{Version}}/$v/g; s/\\${{Package}}/$p/g"); printf "$f\"""",
    # rpm -q --qf '%{{VERSION}}-%{{RELEASE}}\\n' NAME; "package NAME is not installed" on stdout and exit 1 otherwise.
    # rpm -qp reads a real .rpm (the real rpm); the air-gap tests' installs are the real rpm's (tests/support/rpmrepo.py).
    "rpm": f"""case $1 in -qp) exec /usr/bin/rpm "$@" ;; esac
eval "p=\\${{$#}}"; v=$(awk -v p="$p" '$1 == p {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null)
[ -n "$v" ] || {{ echo "package $p is not installed"; exit 1; }}
echo "$v\"""",
    # Installed by a package (linked into /usr/bin): 'containerd --version' as each package's build prints it:
    # Docker's containerd.io "containerd containerd.io v2.2.6 <commit>" (1.x: no "v"), Debian's and Ubuntu's
    # "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1" (debian/rules: upstream version,
    # then the package's). 'config default' prints the layout of its major version.
    "containerd": f"""p=$(awk '$1 ~ /^containerd/ {{p = $1}} END {{print p}}' {_PKGS} 2>/dev/null)
v=$(awk '$1 ~ /^containerd/ {{v = $2}} END {{print v}}' {_PKGS} 2>/dev/null); up=${{v%%-*}}
case $1 in
  --version) case $p:$up in containerd.io:2.*) echo "containerd containerd.io v$up 77c84241c7cbdd9b4eca2591793e3d4f4317c590" ;;
    containerd.io:*) echo "containerd containerd.io $up 05044ec0a9a75232cad458027ca83437aae3f4da" ;;
    *) echo "containerd github.com/containerd/containerd ${{v%-*}} $v" ;; esac ;;
  config) case $up in 2.*) cat <<'EOF'
{CONTAINERD_2_CONFIG}EOF
  ;; 1.7.*) cat <<'EOF'
{CONTAINERD_1_7_CONFIG}EOF
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
    # update-ca-trust extract, as p11-kit's trust extract-compat does for it (ca-certificates' update-ca-trust
    # script): the bundle tls-ca-bundle.pem rebuilt from the anchors (only the system's and these sources').
    "update-ca-trust": """[ "${1:-extract}" = extract ] || { echo "Error: unknown command: $1" >&2; exit 1; }
mkdir -p /etc/pki/ca-trust/extracted/pem; cat /etc/pki/ca-trust/source/anchors/* >/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem 2>/dev/null || true""",
    "getenforce": f'cat {STATE}/selinux 2>/dev/null || echo Enforcing',
    "setenforce": f'mkdir -p {STATE}; [ "$1" = 0 ] && echo Permissive >{STATE}/selinux || echo Enforcing >{STATE}/selinux',
    # kubeadm and kubectl answer from the stubbed cluster (KUBEADM, KUBECTL above).
    "kubeadm": KUBEADM,
    "kubectl": KUBECTL,
    "crictl": CRICTL,
    # dpkg: the real one (the air-gap tests' installs are the real apt's and dpkg's), its calls logged.
    "dpkg": 'exec /usr/bin/dpkg "$@"',
    # ctr -n k8s.io images ls -q / import FILE: names from the OCI archive's index.json as containerd's
    # client/import.go (imageName) takes them: io.containerd.image.name, else org.opencontainers.image.ref.name;
    # an archive without oci-layout and index.json fails like the importer ("unrecognized image format").
    "ctr": _ETCD + f"""mkdir -p {STATE}; case " $* " in
  *" run "*) while [ $# -gt 0 ] && [ "$1" != etcdutl ]; do shift; done; [ $# -gt 0 ] || exit 0; etcd_tool "$@" ;;
  *" images ls "*|*" image ls "*|*" i ls "*) cat {STATE}/images 2>/dev/null; exit 0 ;;
  # images label NAME KEY=VALUE: "ctr: image \"NAME\": not found" for an image the store lacks; labels kept in {STATE}/labels.
  *" images label "*) eval "kv=\\${{$#}}"; eval "n=\\${{$(($# - 1))}}"
    grep -qxF "$n" {STATE}/images 2>/dev/null || {{ echo "ctr: image \\"$n\\": not found" >&2; exit 1; }}
    echo "$n $kv" >>{STATE}/labels; echo "$n" ;;
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


DEFAULT_BEHAVIOUR.update(FIREWALL_BEHAVIOUR)


# The Debian packages a root of the RHEL family's bundle builder has besides PACKAGES: Debian's real dnf (dnf 4, as
# RHEL 8 and 9 have it) with its download plugin, and what the builder reads the packages with (Machine(root_packages=DNF_ROOT)).
DNF_ROOT = ("dnf", "dnf-plugins-core", "rpm2cpio", "cpio")


def _key(suite: str = SUITE, extra: tuple[str, ...] = ()) -> str:
    recipe = "\n".join([suite, MIRROR, "minbase", *PACKAGES, *extra, "1"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base(suite: str = SUITE, extra: tuple[str, ...] = ()) -> Path:
    """The cached root file system of a Debian suite (with the EXTRA packages too), built by debootstrap when
    missing, stale or broken."""
    tree = CACHE / f"rootfs-{suite}-{_key(suite, extra)}"
    if _complete(tree):
        os.utime(tree / ".kubeinit-complete")  # in use: other recipes' builds keep it
        return tree
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # one build at a time, across test processes
        fcntl.flock(lock, fcntl.LOCK_EX)
        return tree if _complete(tree) else _build(tree, suite, extra)


def _complete(tree: Path) -> bool:
    return (tree / ".kubeinit-complete").exists() and (tree / "bin/bash").exists()


def _build(tree: Path, suite: str, extra: tuple[str, ...]) -> Path:
    # Broken builds, and other recipes' trees unused for a day (another checkout may still use a
    # younger one: branches with other recipes share this cache).
    for stale in [*CACHE.glob("rootfs-*"), *CACHE.glob(".building-*")]:
        stamp = stale / ".kubeinit-complete"
        if stale.name.startswith(".building-") or not stamp.exists() or time.time() - stamp.stat().st_mtime > 86400:
            shutil.rmtree(stale, ignore_errors=True)
    building = CACHE / f".building-{os.getpid()}"
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES + extra)}", suite, str(building), MIRROR]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"debootstrap failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    subprocess.run(["rm", "-rf", str(building / "var/cache/apt/archives"), str(building / "var/lib/apt/lists")], check=True)
    (building / "var/lib/apt/lists/partial").mkdir(parents=True)
    (building / ".kubeinit-complete").write_text(_key(suite, extra) + "\n")
    building.rename(tree)
    return tree


class Machine:
    """One test's host: a fresh overlay on the cached tree (see the module docstring)."""

    def __init__(self, directory: Path, behaviour: dict[str, str] | None = None,
                 os_release: str = "debian12", swaps: str | None = None, *, distro: str | None = None,
                 arch: str = "amd64", packages: dict[str, str] | None = None, cpus: int | None = None,
                 memory_kb: int | None = None, route: bool = True, real: tuple[str, ...] = (),
                 root_packages: tuple[str, ...] = ()):
        from tests.support.distros import ARCHES, distro_facts

        # The facts shape the host: os-release, cgroup version, uname, and what the repositories offer. Without
        # a distro, os_release names the facts the repositories follow (Debian 12's unless it names another).
        facts = distro_facts(distro or (os_release if os_release in ("ubuntu2404", "rocky9") else "debian12"))
        self.lower = base(facts.get("suite", SUITE) if distro else SUITE, root_packages)
        self.upper, self.work, self.merged = directory / "upper", directory / "work", directory / "merged"
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True, exist_ok=True)
        self.swaps = self.meminfo = None
        if swaps is not None:
            self.swaps = directory / "swaps"
            self.swaps.write_text("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + swaps)
        if memory_kb is not None:  # a fake /proc/meminfo, its first lines as the kernel writes them
            self.meminfo = directory / "meminfo"
            self.meminfo.write_text(f"MemTotal:       {memory_kb:8d} kB\nMemFree:        {memory_kb // 2:8d} kB\n"
                                    f"MemAvailable:   {memory_kb // 2:8d} kB\n")
        self.cpus = cpus
        names, extra = [name for name in STUBBED if name not in real], {}
        if distro:  # uname answers as the distribution's kernel on ARCH does
            names.append("uname")
            extra["uname"] = (f'case "$*" in -m) echo {ARCHES[arch]} ;; -r) echo {facts["kernel"][arch]} ;; '
                              '*) exec /usr/bin/uname "$@" ;; esac')
        defaults = {name: snippet for name, snippet in DEFAULT_BEHAVIOUR.items() if name not in real}
        self.stubs = Stubs(self.upper / STUB_DIR.lstrip("/"), names, {**defaults, **extra, **(behaviour or {})},
                           log_path=f"{STUB_DIR}/calls.log")
        packaged = self.path(PACKAGED)
        packaged.mkdir(parents=True, exist_ok=True)
        for command in BROUGHT:  # on PATH once a package brings it
            (self.stubs.dir / command).rename(packaged / command)
        self.write("/etc/os-release", facts["os_release"] if distro else OS_RELEASES.get(os_release, os_release))
        if facts["cgroup"] == 2 or not distro:
            self.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        repository = facts["repository"]
        offered = [("containerd", repository["containerd"])] if repository["containerd"] else []
        offered += [("containerd.io", v) for v in repository["containerd.io"]]
        self.write(_REPO, "".join(f"{n} {v}\n" for n, v in offered))
        for name, version in (packages or {}).items():  # installed before the first run
            self.write(_PKGS, (self.read(_PKGS) or "") + f"{name} {version}\n")
            for command, names in BROUGHT.items():
                if name in names:
                    self.path("/usr/bin").mkdir(parents=True, exist_ok=True)
                    os.symlink(f"{PACKAGED}/{command}", self.path(f"/usr/bin/{command}"))
        self._baseline: dict[str, str] | None = None  # taken just before the first run
        self.route = route  # False: lo holds ADDRESS but there is no default route (an air-gapped host)
        self.servers: list[tuple[list[str], Path, Path]] = []  # (argv, ready file, log): see serve()

    def serve(self, argv: list[str], ready: Path, log: Path) -> None:
        """Run ARGV (a program of the test process's own system, outside the root) in each run's network
        namespace while the run lasts, the run starting once it has created READY; its output goes to LOG."""
        self.servers.append((argv, ready, log))

    def hold_apt_lock(self, runs: int, pid: int = 1234, name: str = "unattended-upgr") -> None:
        """The next ``runs`` apt-get calls find apt's lock held by process ``pid`` (``name``, as apt shows it)."""
        self.write(f"{STATE}/apt-lock", f"{runs} {pid} {name}\n")

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
            f"mount --rbind /dev {self.merged}/dev",  # with /dev/pts: apt logs its dpkg run through a pty
            f"mount -t tmpfs tmpfs {self.merged}/run",  # as on a host: runtime state (ufw's lock), empty at boot
            "ip link set lo up",
            f"ip addr add {ADDRESS}/24 dev lo",
        ]
        if self.route:
            mounts.append(f"ip route add default dev lo src {ADDRESS}")
        # Boot: an enabled ufw loads its rules into this run's network namespace, as ufw.service runs
        # 'ufw-init start' at startup (ufw's doc/systemd.example); a fresh namespace has none, and
        # 'ufw status' then says inactive.
        mounts.append(f"if grep -qs '^ENABLED=yes' {self.merged}/etc/ufw/ufw.conf; then "
                      f"chroot {self.merged} /usr/bin/env -i PATH={SYSTEM_PATH} /lib/ufw/ufw-init start >/dev/null; fi")
        if self.swaps:
            mounts.append(f"mount --bind {self.swaps} {self.merged}/proc/swaps")
        if self.meminfo:
            mounts.append(f"mount --bind {self.meminfo} {self.merged}/proc/meminfo")
        variables = {"PATH": PATH, "HOME": "/root", "LC_ALL": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb",
                     "STUB_LOG": f"{STUB_DIR}/calls.log", **(env or {})}
        chroot = f'chroot {self.merged} /usr/bin/env -i "$@"'
        if self.servers:  # started in this namespace, stopped when the run ends
            mounts += ["servers=", "trap 'kill $servers 2>/dev/null' EXIT"]  # also when the run stops early
            for argv, ready, log in self.servers:
                mounts += [f"rm -f {shlex.quote(str(ready))}",
                           f"{shlex.join(argv)} </dev/null >>{shlex.quote(str(log))} 2>&1 & servers=\"$servers $!\"",
                           f"i=0; until [ -e {shlex.quote(str(ready))} ]; do i=$((i + 1)); if [ $i -gt 1500 ]; then "
                           f"echo 'a test server did not start:' >&2; cat {shlex.quote(str(log))} >&2; exit 1; fi; sleep 0.02; done"]
        else:  # nothing to stop afterwards
            chroot = "exec " + chroot
        inner = "set -e\n" + "\n".join(mounts) + f"\n{chroot}\n"
        command = ["unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", inner, "sh",
                   *(f"{k}={v}" for k, v in variables.items()), "bash", "-s", *args]
        if self.cpus:  # the CPUs the run may use, as nproc and kubeadm's runtime.NumCPU count them
            command = ["taskset", "-c", ",".join(map(str, range(self.cpus))), *command]
        proc = subprocess.run(command, input=script, capture_output=True, text=True, timeout=timeout, check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def prepare(self, script: str) -> None:
        """Run SCRIPT with the real tools only (no stub on PATH, none logged) as the host's state before
        the test: the baseline of changes() is taken after it."""
        result = self.run(script, env={"PATH": SYSTEM_PATH})
        assert result.returncode == 0, f"preparing the machine failed:\n{result.stdout}{result.stderr}"
        self._baseline = None

    def behave(self, name: str, snippet: str | None = None) -> None:
        """Give one stub another behaviour from the next run on (None: its DEFAULT_BEHAVIOUR again),
        e.g. a failure that a later run no longer meets. The call log is kept."""
        from tests.support import STUB

        stub = STUB % {"log": shlex.quote(f"{STUB_DIR}/calls.log")}
        where = self.path(PACKAGED) if name in BROUGHT else self.stubs.dir
        (where / name).write_text(stub + (DEFAULT_BEHAVIOUR[name] if snippet is None else snippet) + "\n")

    def calls(self) -> list[list[str]]:
        return self.stubs.calls()

    def commands(self) -> list[str]:
        """The stubbed calls as one line each ("kubeadm init --config ..."), for order checks."""
        return [" ".join(call) for call in self.calls()]

    def snapshot(self) -> dict[str, str]:
        """Every path the machine's upper layer holds (outside /tmp, the stubs and the install log, which
        records runs and changes nothing they depend on), with a digest."""
        result = {}
        for path in sorted(self.upper.rglob("*")):
            inside = "/" + str(path.relative_to(self.upper))
            if inside.startswith(("/tmp/", STUB_DIR + "/", "/var/log/kubeinit/")) or path.is_dir() and not path.is_symlink():
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
