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


def weave_npc_image(root: Path) -> Path:
    """The weave-npc image's iptables as rajch/weave v2.9.0 builds it (reweave/build/Dockerfile, the weave-npc
    stage: Alpine's iptables, whose links are nft since Alpine 3.19, plus iptables-legacy, left unlinked), with
    this machine's real xtables binaries under ROOT/sbin; the image's launch.sh (the recorded fixture) and a
    weave-npc that creates its WEAVE-NPC chain with `iptables` and prints its arguments, under ROOT/usr/bin.
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
    (usr_bin / "weave-npc").write_text(f'#!/bin/sh\n{sbin}/iptables -w -N WEAVE-NPC\necho "weave-npc $*"\n')
    for tool in ("launch.sh", "weave-npc"):
        (usr_bin / tool).chmod(0o755)
    return root


def rooted(script: str, root: Path) -> str:
    """SCRIPT with the image paths /sbin/ and /usr/bin/ moved under ROOT."""
    return script.replace("/sbin/", f"{root}/sbin/").replace("/usr/bin/", f"{root}/usr/bin/")
