"""templates/lib/host.sh.j2 on the debootstrapped root: package runs that meet another apt's lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.scripts.test_install import QUERY, machine
from tests.support import render_script

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]
FIXTURE = Path(__file__).parent.parent / "support/fixtures/apt-lock.txt"


def test_the_stub_meets_the_lock_as_real_apt_get_does(tmp_path: Path) -> None:
    host = machine(tmp_path)
    host.hold_apt_lock(1, pid=2938)
    result = host.run("apt-get install -y curl\n")
    recorded = [line for line in FIXTURE.read_text().splitlines() if not line.startswith("#")]
    assert (result.returncode, result.stderr.splitlines()) == (100, recorded)


def test_a_held_apt_lock_is_waited_for_then_the_install_goes_on(tmp_path: Path) -> None:
    host = machine(tmp_path)
    host.hold_apt_lock(1)  # unattended-upgrades, still at work on a first boot
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert ("another package run holds apt's lock (/var/lib/apt/lists/lock. It is held by process 1234 "
            "(unattended-upgr)): waiting up to 900s for it") in result.stderr
    updates = [c for c in host.commands() if c.startswith("apt-get update")]
    assert len(updates) >= 2  # the first met the lock, the second ran
    assert host.exists("/etc/kubeinit/kubeadm.yaml")


def test_a_lock_held_past_the_bound_stops_with_what_to_do(tmp_path: Path) -> None:
    host = machine(tmp_path)
    host.hold_apt_lock(99)
    script = render_script(**QUERY).replace("_pkg_lock_wait=900", "_pkg_lock_wait=2").replace(
        "_pkg_lock_interval=5", "_pkg_lock_interval=1")
    result = host.run(script)
    assert result.returncode == 1
    assert "another package run has held apt's lock for 2s" in result.stderr
    assert "systemctl status unattended-upgrades" in result.stderr
    assert "E: Unable to lock directory /var/lib/apt/lists/" in result.stderr  # apt's own words, shown
    assert not [c for c in host.commands() if c.startswith("apt-get install")]
