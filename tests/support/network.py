"""Helpers for the networking tests: manifests as the installer builds them, functions of a script."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tests.support import Run, render_script, run_bash, with_body

REPO = Path(__file__).resolve().parents[2]
# The upstream objects the manifest tests compare with, as this repository's own test data.
UPSTREAM = REPO / "tests" / "manifests" / "upstream"

def call(script: str, *words: str, env: dict[str, str] | None = None) -> Run:
    """Run `words` (a function and its arguments) inside the script, defaults set, main not run."""
    return run_bash(with_body(script, '"$@"'), *words, env=env)


def no_cluster(tmp: Path) -> dict[str, str]:
    """PATH where kubectl exists but no cluster answers, as on a host before install."""
    stub = tmp / "no-cluster"
    stub.mkdir(exist_ok=True)
    (stub / "kubectl").write_text("#!/bin/sh\necho 'The connection to the server localhost:8080 was refused' >&2\nexit 1\n")
    (stub / "kubectl").chmod(0o755)
    return {"PATH": f"{stub}:{os.environ['PATH']}"}


def manifests(tmp: Path, *flags: str, **query: str) -> list[dict]:
    """The objects `bash -s manifests FLAGS` prints for a script rendered with QUERY."""
    result = run_bash(render_script("scripts/kubernetes-init.sh.j2", **query), "manifests", *flags, env=no_cluster(tmp))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def by_key(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def container(daemonset: dict, name: str) -> dict:
    spec = daemonset["spec"]["template"]["spec"]
    return next(c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name)


def env_of(daemonset: dict, name: str) -> dict[str, dict]:
    return {e["name"]: e for e in container(daemonset, name).get("env") or []}


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> str:
    """A recorded real-tool output under tests/support/fixtures (each file names its source)."""
    return (FIXTURES / name).read_text()


def real_network_tools() -> bool:
    """Root with iptables and nft installed: rulesets can be loaded in a private network namespace."""
    import shutil

    return os.geteuid() == 0 and all(shutil.which(t) for t in ("unshare", "iptables-restore", "nft", "ip"))


def netns_call(script: str, *words: str, setup: str = "", env: dict[str, str] | None = None) -> Run:
    """Like call(), inside a private network namespace (lo up) prepared by the shell commands SETUP,
    e.g. `iptables-restore < FILE`, `nft -f FILE`, `ip link add ...`: the real tools, isolated."""
    import subprocess

    body = with_body(script, '"$@"')
    inner = "set -e\nip link set lo up\n" + setup + '\nexec bash -s "$@"\n'
    full_env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "HOME": "/tmp", "NO_COLOR": "1", **(env or {})}
    proc = subprocess.run(["unshare", "--net", "bash", "-c", inner, "bash", *words], input=body, capture_output=True,
                          text=True, env=full_env, timeout=120, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


# What weave-npc writes when it starts, before it watches the API server, with whichever `iptables` its image links
# (rajch/weave v2.9.0 prog/weave-npc/main.go: resetIPTables flushes its chains, go-iptables' ClearChain creating
# those missing; createBaseRules with the defaults --allow-mcast=true and --bridge-port-name=vethwe-bridge, and
# net/iptables.go AddChainWithRules for WEAVE-NPC-EGRESS; npc/constants.go EgressMark 0x40000/0x40000).
WEAVE_NPC_BASE_RULES = """\
for c in WEAVE-NPC-INGRESS WEAVE-NPC-DEFAULT WEAVE-NPC WEAVE-NPC-EGRESS-ACCEPT WEAVE-NPC-EGRESS-CUSTOM WEAVE-NPC-EGRESS-DEFAULT; do
  ipt -N $c 2>/dev/null || ipt -F $c
done
ipt -A WEAVE-NPC -m state --state RELATED,ESTABLISHED -j ACCEPT
ipt -A WEAVE-NPC -d 224.0.0.0/4 -j ACCEPT
ipt -A WEAVE-NPC -m physdev --physdev-is-bridged --physdev-out=vethwe-bridge -j ACCEPT
ipt -A WEAVE-NPC -m state --state NEW -j WEAVE-NPC-DEFAULT
ipt -A WEAVE-NPC -m state --state NEW -j WEAVE-NPC-INGRESS
ipt -A WEAVE-NPC-EGRESS-ACCEPT -j MARK --set-xmark 0x40000/0x40000
ipt -N WEAVE-NPC-EGRESS 2>/dev/null || ipt -F WEAVE-NPC-EGRESS
ipt -A WEAVE-NPC-EGRESS -m state --state RELATED,ESTABLISHED -j ACCEPT
ipt -A WEAVE-NPC-EGRESS -m physdev --physdev-is-bridged --physdev-in=vethwe-bridge -j RETURN
ipt -A WEAVE-NPC-EGRESS -m addrtype --dst-type LOCAL -j RETURN
ipt -A WEAVE-NPC-EGRESS -d 224.0.0.0/4 -j RETURN
ipt -A WEAVE-NPC-EGRESS -m state --state NEW -j WEAVE-NPC-EGRESS-DEFAULT
ipt -A WEAVE-NPC-EGRESS -m state --state NEW -m mark ! --mark 0x40000/0x40000 -j WEAVE-NPC-EGRESS-CUSTOM
"""
# What the router (the weave container, whose launch.sh links the iptables that IPTABLES_BACKEND names: rajch/weave
# v2.9.0 prog/weave-kube/launch.sh setup_iptables_backend) writes to steer traffic through weave-npc (net/bridge.go,
# the config.NPC branch: ensureChains WEAVE-NPC and WEAVE-NPC-EGRESS, INPUT from the bridge to WEAVE-NPC-EGRESS, and
# at the top of FORWARD the egress and ingress jumps, NFLOG and DROP, then the bridge's own accepts).
WEAVE_ROUTER_NPC_RULES = """\
ipt -N WEAVE-NPC 2>/dev/null || true
ipt -N WEAVE-NPC-EGRESS 2>/dev/null || true
ipt -A INPUT -i weave -j WEAVE-NPC-EGRESS
ipt -A FORWARD -i weave -m comment --comment "NOTE: this must go before '-j KUBE-FORWARD'" -j WEAVE-NPC-EGRESS
ipt -A FORWARD -o weave -m comment --comment "NOTE: this must go before '-j KUBE-FORWARD'" -j WEAVE-NPC
ipt -A FORWARD -o weave -m state --state NEW -j NFLOG --nflog-group 86
ipt -A FORWARD -o weave -j DROP
ipt -A FORWARD -i weave ! -o weave -j ACCEPT
ipt -A FORWARD -o weave -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
"""


def weave_npc_image(root: Path) -> Path:
    """The weave-npc image's iptables as rajch/weave v2.9.0 builds it (reweave/build/Dockerfile, the weave-npc
    stage: Alpine's iptables, whose links are nft since Alpine 3.19, plus iptables-legacy, left unlinked), with
    this machine's real xtables binaries under ROOT/sbin; the image's launch.sh (the recorded fixture) and a
    weave-npc that writes its base rules (WEAVE_NPC_BASE_RULES) with `iptables` and prints its arguments, under
    ROOT/usr/bin.
    Paths in the image's scripts are rewritten under ROOT (rooted()). Returns ROOT."""
    import shutil

    sbin, usr_bin = root / "sbin", root / "usr/bin"
    sbin.mkdir(parents=True)
    usr_bin.mkdir(parents=True)
    for backend in ("nft", "legacy"):
        (sbin / f"xtables-{backend}-multi").symlink_to(shutil.which(f"xtables-{backend}-multi") or "/missing")
        for suffix in ("", "-save", "-restore"):
            (sbin / f"iptables-{backend}{suffix}").symlink_to(f"xtables-{backend}-multi")
    for suffix in ("", "-save", "-restore"):
        (sbin / f"iptables{suffix}").symlink_to("xtables-nft-multi")
    (usr_bin / "launch.sh").write_text(rooted(fixture("weave-npc-launch.rajch-v2.9.0.sh"), root))
    (usr_bin / "weave-npc").write_text(f"#!/bin/sh\nset -e\nipt() {{ {sbin}/iptables -w \"$@\"; }}\n{WEAVE_NPC_BASE_RULES}"
                                       'echo "weave-npc $*"\n')
    for tool in ("launch.sh", "weave-npc"):
        (usr_bin / tool).chmod(0o755)
    return root


def rooted(script: str, root: Path) -> str:
    """SCRIPT with the image paths /sbin/ and /usr/bin/ moved under ROOT."""
    return script.replace("/sbin/", f"{root}/sbin/").replace("/usr/bin/", f"{root}/usr/bin/")
