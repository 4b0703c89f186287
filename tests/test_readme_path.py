"""The README's two commands, as a new user runs them.

On this host: ``scripts/serve`` serves scripts and logs each request once. On a fresh Debian 12
(``debootstrap --variant=minbase``: not even python3), as root, with no step by hand: the first
command serves scripts (curl one), and the second command's setup, everything before pytest starts
(``KUBEINIT_TEST_SETUP_ONLY=1``), completes under ``CI=true``.

The bare root is built once and cached under /var/cache/kubeinit-tests (its own recipe, apart from
tests/support/rootfs.py's); each run is a fresh overlay on it. Debian packages are cached across
runs (apt's archives are bind-mounted from the cache directory, and pip's cache too, which keeps what
the index lets it), so a re-run installs everything again but fetches no .deb it already has. The chroot shares the host's network (apt,
pip and the served port); /usr/sbin/policy-rc.d keeps package scripts from starting daemons
(nginx) on it. The host's CA bundle goes in too, for pip behind this site's TLS proxy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

CACHE = Path("/var/cache/kubeinit-tests")
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_CA = "/etc/kubeinit-test-host-ca.crt"  # inside the root: the host's bundle, for pip (as PIP_CERT is here)


def test_scripts_serve_serves_and_logs_each_request_once():
    port = free_port()
    proc = subprocess.Popen([str(REPO / "scripts" / "serve")], env={**os.environ, "PORT": str(port), "HOST": "127.0.0.1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        body = wait_for(f"http://127.0.0.1:{port}/kubernetes-init?nodelocal_dnscache=1", proc, timeout=300)
        assert body.startswith(b"#!/usr/bin/env bash\n")
    finally:
        output = stop(proc, signal.SIGINT)
    lines = [line for line in output.splitlines() if "/kubernetes-init" in line]
    assert len(lines) == 1, output  # the service's JSON line, not also uvicorn's "GET ... HTTP/1.1" 200
    assert json.loads(lines[0])["path"] == "/kubernetes-init"


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    """Stop a process started in its own session, and all it started; its output."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    return proc.communicate(timeout=30)[0].decode()


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode}): {proc.stdout.read().decode()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered at {url} within {timeout} s")


def bare_debian() -> Path:
    """debootstrap --variant=minbase of Debian 12, nothing added, cached by its recipe."""
    key = hashlib.sha256(f"{SUITE}\n{MIRROR}\nminbase\nreadme-path 1".encode()).hexdigest()[:12]
    tree = CACHE / f"bare-{SUITE}-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock-bare", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (tree / ".kubeinit-complete").exists():
            shutil.rmtree(tree, ignore_errors=True)
            building = CACHE / f".bare-building-{os.getpid()}"
            proc = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(building), MIRROR],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                shutil.rmtree(building, ignore_errors=True)
                raise RuntimeError(f"debootstrap failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            subprocess.run(["rm", "-rf", str(building / "var/cache/apt/archives"), str(building / "var/lib/apt/lists")],
                           check=True)
            (building / "var/lib/apt/lists/partial").mkdir(parents=True)
            (building / "var/cache/apt/archives/partial").mkdir(parents=True)
            (building / ".kubeinit-complete").write_text(key + "\n")
            building.rename(tree)
    return tree


class FreshHost:
    """A fresh overlay on the bare root, holding a copy of this checkout as root's clone."""

    def __init__(self, directory: Path) -> None:
        self.lower = bare_debian()
        self.upper, self.work, self.merged = directory / "upper", directory / "work", directory / "merged"
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True)
        self.downloads = {"/var/cache/apt/archives": CACHE / "readme-path-apt", "/root/.cache/pip": CACHE / "readme-path-pip"}
        for cached in self.downloads.values():
            (cached / "partial").mkdir(parents=True, exist_ok=True)
        clone = self.upper / "root" / "kubeinit"
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                               capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            if (REPO / name).is_file():
                (clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, clone / name)
        # Apart from /etc/ssl/certs, which the ca-certificates package rewrites when apt installs it.
        self.put(HOST_CA, CA_BUNDLE.read_bytes())
        self.put("/etc/resolv.conf", Path("/etc/resolv.conf").read_bytes())
        self.put("/usr/sbin/policy-rc.d", b"#!/bin/sh\nexit 101\n", 0o755)

    def put(self, inside: str, content: bytes, mode: int = 0o644) -> None:
        path = self.upper / inside.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)

    def start(self, command: str, env: dict[str, str]) -> subprocess.Popen:
        """``command`` run by bash as root in /root/kubeinit, in its own mount namespace and session."""
        mounts = [f"mount -t overlay overlay -o lowerdir={self.lower},upperdir={self.upper},workdir={self.work} {self.merged}",
                  f"mount -t proc proc {self.merged}/proc", f"mount --bind /dev {self.merged}/dev",
                  *(f"mount --bind {outside} {self.merged}{inside}" for inside, outside in self.downloads.items())]
        for inside in self.downloads:
            (self.upper / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
        variables = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                     "LC_ALL": "C.UTF-8", "TERM": "dumb", "PIP_CERT": HOST_CA, **env}
        inner = "set -e\n" + "\n".join(mounts) + f'\nexec chroot {self.merged} /usr/bin/env -i "$@"\n'
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", inner, "sh",
                                 *(f"{k}={v}" for k, v in variables.items()), "bash", "-c", f"cd /root/kubeinit && {command}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, unshare, chroot)")
def test_the_readme_commands_work_on_a_fresh_debian_12(tmp_path: Path):
    host = FreshHost(tmp_path)
    assert not (host.lower / "usr/bin/python3").exists()  # nothing preinstalled: not even python3

    port = free_port()
    server = host.start("scripts/serve", {"PORT": str(port)})
    try:
        body = wait_for(f"http://127.0.0.1:{port}/kubernetes-init", server, timeout=900)
        assert body.startswith(b"#!/usr/bin/env bash\n") and b"kubeinit" in body
    finally:
        stop(server)

    setup = host.start("scripts/test", {"CI": "true", "KUBEINIT_TEST_SETUP_ONLY": "1"})
    output = setup.communicate(timeout=3000)[0].decode()
    assert setup.returncode == 0, output[-5000:]
    assert "pytest not run (KUBEINIT_TEST_SETUP_ONLY=1)" in output
    clone = host.upper / "root" / "kubeinit"
    for tool in ("python", "pytest", "kubectl", "hadolint", "uvicorn"):
        assert (clone / ".venv" / "bin" / tool).exists(), tool
    for program in ("usr/bin/chromium", "usr/bin/shellcheck", "usr/sbin/debootstrap", "usr/bin/wrk", "usr/sbin/nginx"):
        assert (host.upper / program).exists(), program


def test_the_environment_is_the_systems_python_and_a_second_setup_is_instant():
    subprocess.run([str(REPO / "scripts" / "venv"), "test"], check=True, timeout=1200)  # made if missing
    start = time.monotonic()
    subprocess.run([str(REPO / "scripts" / "venv"), "test"], check=True, timeout=60)
    subprocess.run([str(REPO / "scripts" / "venv")], check=True, timeout=60)  # the service's part is in it
    assert time.monotonic() - start < 5
    config = (REPO / ".venv" / "pyvenv.cfg").read_text()
    assert "home = /usr/bin\n" in config  # /usr/bin/python3, whatever python3 comes first on PATH
    assert "include-system-site-packages = false" in config
