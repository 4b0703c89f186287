"""The isolated-root harness itself: isolation, recording stubs, state, persistence across runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]


@pytest.fixture
def machine(tmp_path: Path):
    from tests.support.rootfs import Machine

    return Machine(tmp_path)


def test_runs_inside_the_root_and_leaves_the_host_alone(machine, tmp_path: Path) -> None:
    marker = f"/etc/kubeinit-harness-{tmp_path.name}"
    result = machine.run(f"set -e; . /etc/os-release; echo $ID $VERSION_ID; echo x >{marker}; rm /etc/issue\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["debian", "12"]
    assert not os.path.exists(marker)
    assert machine.read(marker) == "x\n"
    assert machine.read("/etc/issue") is None
    assert machine.changes() == {marker: machine.changes()[marker], "/etc/issue": "deleted"}


def test_arguments_reach_the_script_and_the_exit_code_comes_back(machine) -> None:
    result = machine.run('printf "%s|" "$@"; exit 3\n', "dry-run", "pod-cidr=10.0.0.0/8")
    assert (result.returncode, result.stdout) == (3, "dry-run|pod-cidr=10.0.0.0/8|")


def test_stubs_record_in_order_and_keep_state(machine) -> None:
    # Braces as in the installer: bash reads the whole script before a stub could read its stdin.
    script = """{
set -e
apt-get install -y containerd
dpkg-query -W -f='${Status} ${Version}' containerd; echo
systemctl enable --now containerd
systemctl is-active --quiet containerd && echo active
echo data | kubectl apply -f -
}
"""
    result = machine.run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["install ok installed 1.6.20~ds1-1+b1", "active"]
    assert machine.commands() == [
        "apt-get install -y containerd",
        "dpkg-query -W -f=${Status} ${Version} containerd",
        "systemctl enable --now containerd",
        "systemctl is-active --quiet containerd",
        "kubectl apply -f -",
    ]
    assert machine.stubs.stdin(4) == "data\n"


def test_the_network_has_one_address_and_free_ports(machine) -> None:
    from tests.support.rootfs import ADDRESS

    result = machine.run("ip -4 route get 1.1.1.1; ss -Hltun | wc -l\n")
    assert f"src {ADDRESS}" in result.stdout
    assert result.stdout.split()[-1] == "0"


def test_behaviour_replaces_a_default_and_swaps_are_faked(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    machine = Machine(tmp_path, behaviour={"kubeadm": "exit 7"}, swaps="/swapfile file 1024 0 -2\n")
    result = machine.run("kubeadm init || echo rc=$?; tail -n1 /proc/swaps\n")
    assert result.stdout.splitlines() == ["rc=7", "/swapfile file 1024 0 -2"]


def test_a_second_run_sees_the_first_runs_files(machine) -> None:
    machine.run("echo one >/etc/kubeinit-state\n")
    assert machine.run("cat /etc/kubeinit-state\n").stdout == "one\n"


FIXTURES = Path(__file__).parent / "fixtures"


def _recorded(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("row", _recorded("containerd-version.txt"))
def test_containerd_answers_its_version_as_each_package_prints_it(tmp_path: Path, row: str) -> None:
    from tests.support.rootfs import Machine

    package, output = row.split("\t")
    name, version = package.split()
    machine = Machine(tmp_path, packages={name: version})
    assert machine.run("containerd --version\n").stdout == output + "\n"


def test_no_containerd_command_before_a_package_brings_it(machine) -> None:
    result = machine.run("{ command -v containerd || echo none; apt-get install -y containerd; command -v containerd; }\n")
    assert result.stdout.splitlines() == ["none", "/usr/bin/containerd"]


def test_kubeadm_lists_its_images_as_the_real_one_does(machine) -> None:
    result = machine.run("{ kubeadm config images list --kubernetes-version v1.35.8\n"
                         "kubeadm config images list --kubernetes-version v1.35.8 --image-repository mirror.example.com/k8s; }\n")
    assert result.stdout.splitlines() == _recorded("kubeadm-config-images-list.txt")


def test_package_queries_answer_in_the_real_formats(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    machine = Machine(tmp_path, packages={"containerd.io": "2.2.6-1.el9"})
    result = machine.run("{ dpkg-query -W -f='${Status} ${Version}\\n' containerd.io; dpkg-query -W curl; echo rc=$?\n"
                         "rpm -q --qf '%{VERSION}-%{RELEASE}\\n' containerd.io; rpm -q docker-ce; echo rc=$?; } 2>&1\n")
    assert result.stdout.splitlines() == [
        "install ok installed 2.2.6-1.el9", "dpkg-query: no packages found matching curl", "rc=1",
        "2.2.6-1.el9", "package docker-ce is not installed", "rc=1"]


def test_apt_and_dnf_offer_docker_containerd_io_only_once_its_repository_is_configured(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    machine = Machine(tmp_path)
    result = machine.run("{ apt-get install -y 'containerd.io=2.2.6-*'; echo rc=$?; dnf install -y containerd.io-2.2.6; "
                         "echo rc=$?; }\n")
    assert result.stderr.splitlines() == ["E: Unable to locate package containerd.io", "No match for argument: "
                                          "containerd.io-2.2.6", "Error: Unable to find a match: containerd.io-2.2.6"]
    assert result.stdout.splitlines() == ["rc=100", "rc=1"]
