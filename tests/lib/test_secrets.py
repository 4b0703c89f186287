"""No bootstrap token or certificate key in a URL, an argv (visible to every user through ps; the
stubs record every argv) or the log (stderr), across every flow of #14: install, HA install, re-run,
worker and control-plane joins, upgrade, remove-node, renew-certs and their dry-runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.cluster import JOIN, SECRETS, add_nodes, join_flags
from tests.support.rootfs import UPLOADED_KEY, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]
HA = {"kubernetes_version": "1.36", "control_plane_endpoint": "10.0.0.5"}


def check(host: Machine, result, *, printed: bool = False) -> None:
    """result kept every secret out of URLs, argv and the log; printed: the join commands show them."""
    assert result.returncode == 0, result.stderr
    for secret in SECRETS:
        assert secret not in result.stderr, f"{secret} in the log"
        assert not [c for c in host.calls() if any(secret in word for word in c)], f"{secret} in an argv"
        assert not [u for u in re.findall(r"https?://\S+", result.stdout) if secret in u], f"{secret} in a URL"
    if printed:
        assert any(secret in result.stdout for secret in SECRETS)  # on stdout, as flags of the join script


def test_no_secret_leaks_in_any_flow(tmp_path: Path) -> None:
    cp = Machine(tmp_path / "cp")
    check(cp, cp.run(render_script(**HA), "dry-run"))
    check(cp, cp.run(render_script(**HA)), printed=True)
    check(cp, cp.run(render_script(**HA)), printed=True)  # a re-run: fresh token and certificate key
    add_nodes(cp, "worker1 worker True v1.36.3", "cp2 control-plane True v1.36.3", "cp3 control-plane True v1.36.3")
    check(cp, cp.run(render_script(**{**HA, "kubernetes_version": "1.37"}), "dry-run", "upgrade"))
    check(cp, cp.run(render_script(**{**HA, "kubernetes_version": "1.37"}), "upgrade"))
    check(cp, cp.run(render_script(**HA), "remove-node=worker1"))
    check(cp, cp.run(render_script(**HA), "renew-certs"))

    worker = Machine(tmp_path / "worker")
    check(worker, worker.run(render_script(JOIN, kubernetes_version="1.36.3"), *join_flags(), "dry-run"))
    check(worker, worker.run(render_script(JOIN, kubernetes_version="1.36.3"), *join_flags()))
    worker.write("/var/lib/kubeinit-stubs/cluster/version", "v1.37.3\n")
    check(worker, worker.run(render_script(JOIN, kubernetes_version="1.37"), "upgrade"))

    plane = Machine(tmp_path / "plane")
    flags = (*join_flags(api="10.0.0.5"), "control-plane", f"certificate-key={UPLOADED_KEY}")
    check(plane, plane.run(render_script(JOIN, ha_vip="10.0.0.5"), *flags, "dry-run"))
    check(plane, plane.run(render_script(JOIN, ha_vip="10.0.0.5"), *flags))
