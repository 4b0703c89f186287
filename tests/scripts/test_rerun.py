"""A run that fails part-way, then run again, reaches a working install (issue #12, "Re-runs after
failure"; a failed `kubeadm init` is the daytwo branch's).

Each test breaks one step with a stub that fails as the real tool does while a marker file
exists on the machine, checks what the failed run left, removes the marker (the cause is
fixed), and runs again on the same machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

QUERY = {"kubernetes_version": "1.36"}
MARK = "/etc/kubeinit-test-broken"
# The config containerd.io ships (cri disabled, no version): kubeinit replaces it from 'containerd config default'.
OLD_CONFIG = "# the operator's containerd config, before this run\ndisabled_plugins = [\"cri\"]\n"

# How each tool fails. apt-get exits 100 on any error (apt-get(8), "DIAGNOSTICS"); containerd and
# kubectl exit 1 with their message on stderr.
FAILURES = {
    "apt-get": """case " $* " in *" install "*) echo "E: Failed to fetch http://deb.debian.org/debian/pool/main/c/containerd/containerd_1.6.20~ds1-1+b1_amd64.deb  Temporary failure resolving 'deb.debian.org'" >&2; exit 100 ;; esac""",
    "containerd": """[ "$1" != config ] || { echo 'containerd: failed to load plugin config: unexpected EOF' >&2; exit 1; }""",
    "kubectl": """case "$*" in *"apply -f -"*) cat >/dev/null; echo "The connection to the server 10.0.0.5:6443 was refused - did you specify the right host or port?" >&2; exit 1 ;; esac""",
}


def broken(tmp_path: Path, name: str) -> Machine:
    """A machine whose `name` fails as FAILURES says while MARK exists."""
    snippet = f'if [ -e {MARK} ]; then {FAILURES[name]}; fi\n' + DEFAULT_BEHAVIOUR.get(name, "")
    host = Machine(tmp_path, behaviour={name: snippet})
    host.write(MARK, "")
    return host


def says_what_to_do(result, step: str) -> None:
    """The failed run names its step and the way on, once (a die inside $(...) runs no exit trap)."""
    assert f"the run stopped in step {step}: fix the cause (above), then run the same command again" in result.stderr
    assert result.stderr.count("the log of this run: /var/log/kubeinit/kubernetes-init.log") == 1


def fixed_and_rerun(host: Machine):
    host.path(MARK).unlink()
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert "To add a worker to this cluster" in result.stdout
    assert host.exists("/etc/kubernetes/admin.conf")
    return result


def test_a_failed_package_install_then_a_rerun_installs(tmp_path: Path) -> None:
    host = broken(tmp_path, "apt-get")
    result = host.run(render_script(**QUERY))
    assert result.returncode != 0
    assert "Temporary failure resolving" in result.stderr
    assert not host.exists("/etc/containerd/config.toml")
    says_what_to_do(result, "kube_install")  # the first package step (containerd follows: it pins kubeadm's pause)
    fixed_and_rerun(host)
    assert any(c.startswith("apt-get install -y -q --no-install-recommends containerd.io") for c in host.commands())


def test_a_failed_containerd_config_default_keeps_the_old_config_then_a_rerun_installs(tmp_path: Path) -> None:
    host = broken(tmp_path, "containerd")
    host.write("/etc/containerd/config.toml", OLD_CONFIG)
    result = host.run(render_script(**QUERY))
    assert result.returncode != 0
    assert host.read("/etc/containerd/config.toml") == OLD_CONFIG  # not a 0-byte file
    assert "'containerd config default' failed" in result.stderr
    assert not [c for c in host.commands() if c.startswith("kubeadm init")]
    says_what_to_do(result, "containerd_install")
    fixed_and_rerun(host)
    assert host.read("/etc/containerd/config.toml") != OLD_CONFIG


def test_a_failed_network_apply_then_a_rerun_finishes_without_a_second_init(tmp_path: Path) -> None:
    host = broken(tmp_path, "kubectl")
    result = host.run(render_script(**QUERY))
    assert result.returncode != 0
    assert "was refused" in result.stderr
    assert "To add a host" not in result.stdout
    says_what_to_do(result, "network_apply")
    fixed_and_rerun(host)
    assert len([c for c in host.commands() if c.startswith("kubeadm init")]) == 1
    assert any(c.startswith("kubectl apply -f -") for c in host.commands())
