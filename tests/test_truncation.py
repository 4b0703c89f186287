"""A download cut short runs nothing: no command, no log line from main."""

import pytest

from tests.support import Stubs, render_script, run_bash

# What the installer may call on a host; any call from a truncated script would be recorded.
HOST_COMMANDS = ["apt-get", "dnf", "yum", "systemctl", "kubeadm", "kubelet", "kubectl", "modprobe", "sysctl",
                 "swapoff", "setenforce", "curl", "gpg", "containerd", "mkdir", "mv", "rm", "cp", "chmod", "tee"]

SCRIPT = render_script(**{"nodelocal_dnscache": "1"}).encode()
# Every 1 KiB, and every byte of the last line. (Cutting only the final newline leaves the
# whole `{ main "$@"; }` command, which rightly runs: that prefix is excluded.)
OFFSETS = sorted(set(range(0, len(SCRIPT), 1024)) | set(range(len(SCRIPT) - 24, len(SCRIPT) - 1)))


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    return Stubs(tmp_path_factory.mktemp("truncation") / "bin", HOST_COMMANDS)


def run_prefix(stubs: Stubs, body: bytes):
    stubs.log.write_text("")
    stubs.log.chmod(0o666)
    return run_bash(body.decode(errors="replace"), "dry-run", env=stubs.env(), as_nobody=True, timeout=30)


def test_the_whole_script_under_the_same_harness_does_run(stubs):
    result = run_prefix(stubs, SCRIPT)
    assert result.returncode == 0, result.stderr
    assert "[INFO] kubeinit" in result.stderr


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_script_cut_at_any_offset_runs_nothing(stubs, offset):
    result = run_prefix(stubs, SCRIPT[:offset])
    assert stubs.calls() == []
    assert "[INFO]" not in result.stderr and "[WARN]" not in result.stderr
    assert result.stdout == ""
