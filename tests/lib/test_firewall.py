"""lib/firewall: firewalld and ufw, on the control plane and on a joining node (issue #12 item 8).

The runs are end to end in the debootstrapped root, with firewall-cmd and ufw stubs that answer as
the real tools do (tests/support/firewall_stubs.py, which cites their documentation).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.firewall_stubs import firewalld_rules, firewalld_running, ufw_active, ufw_rules
from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

JOIN = ("api-server=10.0.0.1:6443", "token=abcdef.0123456789abcdef", "ca-cert-hash=sha256:" + "ab" * 32)
# A control plane runs workloads unless control-plane-taint=1: the NodePorts then open there too.
TAINTED = ["public port 6443/tcp", "public port 2379-2380/tcp", "public port 10250/tcp",
           "public port 6783/tcp", "public port 6783-6784/udp", "public protocol esp",
           "trusted source 10.32.0.0/12", "trusted interface weave"]
CONTROL_PLANE = ["public port 6443/tcp", "public port 2379-2380/tcp", "public port 10250/tcp",
                 "public port 30000-32767/tcp", "public port 30000-32767/udp", "public port 6783/tcp", "public port 6783-6784/udp", "public protocol esp",
                 "trusted source 10.32.0.0/12", "trusted interface weave"]
NODE = ["public port 10250/tcp", "public port 30000-32767/tcp", "public port 30000-32767/udp",
        "public port 6783/tcp", "public port 6783-6784/udp", "public protocol esp",
        "trusted source 10.32.0.0/12", "trusted interface weave"]


def join_script(**query: str) -> str:
    return render_script("scripts/kubernetes-node-join.sh.j2", **query)


def test_no_active_firewall_opens_nothing(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert "preflight pass:    firewall: neither firewalld nor ufw is active" in result.stderr
    assert not [c for c in host.commands() if "--add-" in c or c.startswith("ufw allow")]
    assert not host.exists("/etc/kubeinit/firewall")


def test_firewalld_opens_exactly_the_control_plane_needs_at_runtime_and_permanently(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert firewalld_rules(host, "runtime") == CONTROL_PLANE
    assert firewalld_rules(host, "permanent") == CONTROL_PLANE
    assert "firewalld (zone public) is active: the install opens what this control-plane needs" in result.stderr
    assert "[INFO]     permanent public port 6443/tcp" in result.stderr
    # before kubeadm init, so that joining hosts reach the API server
    commands = host.commands()
    assert commands.index("firewall-cmd --zone=public --add-port=6443/tcp") < next(
        i for i, c in enumerate(commands) if c.startswith("kubeadm init"))


@pytest.mark.parametrize("query", [{}, {"private_address": "10.0.0.5"}], ids=["default-route", "private-address"])
def test_firewalld_uses_the_zone_of_the_node_interface(tmp_path: Path, query: dict[str, str]) -> None:
    host = Machine(tmp_path)
    firewalld_running(host, default_zone="public", interfaces={"lo": "internal"})  # lo holds 10.0.0.5 here
    result = host.run(render_script(encrypt_network="0", **query))
    assert result.returncode == 0, result.stderr
    rules = firewalld_rules(host, "permanent")
    assert "internal port 6443/tcp" in rules and not [r for r in rules if r.startswith("public")]
    assert "internal protocol esp" not in rules  # no ESP without encryption


def test_a_rerun_opens_nothing_more(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    assert host.run(render_script()).returncode == 0
    calls = len(host.calls())
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert not [c for c in host.commands()[calls:] if "--add-" in c]
    assert "lets through what this control-plane needs" in result.stderr


def test_reset_closes_exactly_what_the_install_opened(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    host.write("/var/lib/kubeinit-stubs/firewalld/permanent", "public service ssh\npublic port 6443/tcp\n")
    host.write("/var/lib/kubeinit-stubs/firewalld/runtime", "public service ssh\npublic port 6443/tcp\n")
    assert host.run(render_script()).returncode == 0
    assert "public port 6783/tcp" in firewalld_rules(host, "permanent")
    result = host.run(render_script(), "reset", "yes")
    assert result.returncode == 0, result.stderr
    # what was open before the install stays open (6443 too: the install did not open it)
    assert firewalld_rules(host, "permanent") == ["public service ssh", "public port 6443/tcp"]
    assert firewalld_rules(host, "runtime") == ["public service ssh", "public port 6443/tcp"]
    assert "firewall: closed what the install had opened" in result.stderr
    assert not host.exists("/etc/kubeinit/firewall")


def test_keep_stops_in_preflight_with_the_exact_commands(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    result = host.run(render_script(firewall="keep"))
    assert result.returncode == 1
    assert "firewalld (zone public) blocks what this control-plane needs, and firewall=keep leaves it as it is" in result.stderr
    assert "[ERROR]     firewall-cmd --zone=public --add-port=6443/tcp" in result.stderr
    assert "[ERROR]     firewall-cmd --permanent --zone=trusted --add-source=10.32.0.0/12" in result.stderr
    assert not [c for c in host.commands() if "--add-" in c or c.startswith(("apt-get", "kubeadm"))]
    assert firewalld_rules(host, "permanent") == []


def test_keep_passes_once_the_printed_commands_were_run(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    first = host.run(render_script(firewall="keep"), "preflight")
    commands = [line.split("]", 1)[1].strip() for line in first.stderr.splitlines()
                if line.startswith("[ERROR]     firewall-cmd")]
    host.write("/root/open.sh", "\n".join(commands) + "\n")
    opened = host.run("bash /root/open.sh\n")
    assert opened.returncode == 0, opened.stderr
    result = host.run(render_script(firewall="keep"))
    assert result.returncode == 0, result.stderr
    assert "firewalld (zone public) lets through what this control-plane needs" in result.stderr
    assert not host.exists("/etc/kubeinit/firewall")  # the install opened nothing: reset closes nothing


def test_the_join_script_opens_a_worker_ports_with_firewalld(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    result = host.run(join_script(), *JOIN)
    assert result.returncode == 0, result.stderr
    assert firewalld_rules(host, "permanent") == NODE
    assert firewalld_rules(host, "runtime") == NODE


def test_a_control_plane_join_opens_the_control_plane_ports_with_firewalld(tmp_path: Path) -> None:
    # a control-plane join serves the API server and etcd: 6443 and 2379-2380, and, untainted, the NodePorts
    host = Machine(tmp_path)
    firewalld_running(host)
    result = host.run(join_script(), *JOIN, "control-plane", "certificate-key=" + "0f" * 32)
    assert result.returncode == 0, result.stderr
    assert firewalld_rules(host, "permanent") == CONTROL_PLANE
    assert firewalld_rules(host, "runtime") == CONTROL_PLANE
    assert "the install opens what this control-plane needs" in result.stderr
    assert "preflight pass:    ports: free: tcp/6443 " in result.stderr


def test_ufw_opens_the_worker_ports_and_reset_deletes_them(tmp_path: Path) -> None:
    host = Machine(tmp_path, os_release="ubuntu2404")
    ufw_active(host, "allow 22/tcp")
    result = host.run(join_script(pod_cidr="10.244.0.0/16"), *JOIN)
    assert result.returncode == 0, result.stderr
    assert ufw_rules(host) == ["allow 22/tcp", "allow 10250/tcp", "allow 30000:32767/tcp", "allow 30000:32767/udp",
                               "allow 6783/tcp", "allow 6783:6784/udp", "allow to any proto esp",
                               "allow from 10.244.0.0/16", "route allow from 10.244.0.0/16",
                               "route allow to 10.244.0.0/16"]
    reset = host.run(join_script(pod_cidr="10.244.0.0/16"), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert ufw_rules(host) == ["allow 22/tcp"]  # the real ufw deletes a route rule only by 'ufw route delete'


def test_dry_run_prints_the_firewall_commands_and_changes_nothing(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    result = host.run(render_script(), "dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ 'firewall-cmd' '--permanent' '--zone=public' '--add-port=6443/tcp'" in result.stdout
    assert firewalld_rules(host, "permanent") == []


def test_reset_with_firewalld_stopped_warns_and_reaches_its_end(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    assert host.run(render_script()).returncode == 0
    host.path("/var/lib/kubeinit-stubs/firewalld/running").unlink()
    result = host.run(render_script(), "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert "firewall: could not close these" in result.stderr
    assert "[WARN]     firewall-cmd --permanent --zone=public --remove-port=6443/tcp" in result.stderr
    assert "reset done" in result.stderr


def test_a_failed_open_records_what_was_opened_and_a_rerun_finishes(tmp_path: Path) -> None:
    # firewalld refusing one change: "Error: COMMAND_FAILED: ..." and exit 13 (firewalld's errors.py)
    refuse = ('if [ -e /etc/kubeinit-test-broken ] && [ "$*" = "--zone=public --add-protocol=esp" ]; then '
              'echo "Error: COMMAND_FAILED: \'python-nftables\' failed" >&2; exit 13; fi\n')
    host = Machine(tmp_path, behaviour={"firewall-cmd": refuse + DEFAULT_BEHAVIOUR["firewall-cmd"]})
    firewalld_running(host)
    host.write("/etc/kubeinit-test-broken", "")
    result = host.run(render_script())
    assert result.returncode == 1
    assert "firewall: 'firewall-cmd --zone=public --add-protocol=esp' failed (above)" in result.stderr
    assert host.read("/etc/kubeinit/firewall").splitlines()[:2] == [
        "firewalld runtime public port 6443/tcp", "firewalld permanent public port 6443/tcp"]
    host.path("/etc/kubeinit-test-broken").unlink()
    again = host.run(render_script())
    assert again.returncode == 0, again.stderr
    assert firewalld_rules(host, "runtime") == CONTROL_PLANE
    reset = host.run(render_script(), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert firewalld_rules(host, "runtime") == [] and firewalld_rules(host, "permanent") == []


def test_the_stubs_answer_as_the_real_tools(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    # in braces: bash reads it whole before a stub reads stdin (tests/support/rootfs.py)
    probe = """{
firewall-cmd --state; echo "rc=$?"
firewall-cmd --zone=public --add-port=1/tcp; echo "rc=$?"
ufw status
}
"""
    result = host.run(probe)
    assert result.stdout.splitlines() == ["not running", "rc=252", "FirewallD is not running", "rc=252", "Status: inactive"]
    firewalld_running(host)
    probe = """{
firewall-cmd --zone=public --query-port=1/tcp; echo "rc=$?"
firewall-cmd --zone=public --add-port=1/tcp; firewall-cmd --zone=public --add-port=1/tcp; echo "rc=$?"
firewall-cmd --permanent --zone=public --query-port=1/tcp; echo "rc=$?"
firewall-cmd --get-zone-of-interface=eth9; echo "rc=$?"
}
"""
    result = host.run(probe)
    assert result.stdout.splitlines() == ["no", "rc=1", "success", "success", "rc=0", "no", "rc=1", "no zone", "rc=2"]
    assert "Warning: ALREADY_ENABLED: 1:tcp" in result.stderr


def test_keep_on_the_join_script_prints_the_ufw_commands_for_a_worker(tmp_path: Path) -> None:
    host = Machine(tmp_path, os_release="ubuntu2404")
    ufw_active(host)
    result = host.run(join_script(firewall="keep"), *JOIN)
    assert result.returncode == 1
    assert "preflight FAIL:    firewall: ufw blocks what this node needs, and firewall=keep leaves it as it is" in result.stderr
    printed = [line.split("]", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("[ERROR]     ufw")]
    assert printed == ["ufw allow 10250/tcp", "ufw allow 30000:32767/tcp", "ufw allow 30000:32767/udp",
                       "ufw allow 6783/tcp", "ufw allow 6783:6784/udp", "ufw allow to any proto esp",
                       "ufw allow from 10.32.0.0/12", "ufw route allow from 10.32.0.0/12", "ufw route allow to 10.32.0.0/12"]
    assert ufw_rules(host) == [] and not [c for c in host.commands() if c.startswith("kubeadm")]


def test_keep_passes_where_ufw_already_allows_what_a_worker_needs(tmp_path: Path) -> None:
    # The operator ran the printed commands. The real ufw prints 'allow proto esp from any to any'
    # back as 'allow to any proto esp' ('ufw show added'), so a check that compared the words it
    # typed found ESP missing, and firewall=keep refused a host that let everything through.
    host = Machine(tmp_path, os_release="ubuntu2404")
    ufw_active(host, "allow 22/tcp", "allow 10250/tcp", "allow 30000:32767/tcp", "allow 30000:32767/udp",
               "allow 6783/tcp", "allow 6783:6784/udp", "allow proto esp from any to any",
               "allow from 10.32.0.0/12", "route allow from 10.32.0.0/12", "route allow to 10.32.0.0/12")
    result = host.run(join_script(firewall="keep"), *JOIN)
    assert result.returncode == 0, result.stderr
    assert "preflight pass:    firewall: ufw lets through what this node needs" in result.stderr
    # Weave's scan reads the ruleset the real ufw loaded (ufw-init at "boot"): nothing it needs is dropped.
    assert "weave ESP" not in result.stderr and "weave UDP" not in result.stderr and "weave TCP" not in result.stderr


def test_a_single_host_cluster_behind_ufw_opens_the_nodeports(tmp_path: Path) -> None:
    # control-plane-taint=0 (the default): workloads and their NodePorts run on the control plane, and
    # on a single host nowhere else; ufw rejected every NodePort before (issue #26).
    host = Machine(tmp_path, os_release="ubuntu2404")
    ufw_active(host)
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert "allow 30000:32767/tcp" in ufw_rules(host) and "allow 30000:32767/udp" in ufw_rules(host)


def test_a_control_plane_that_keeps_the_taint_closes_the_nodeports_it_opened(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    firewalld_running(host)
    host.write("/var/lib/kubeinit-stubs/firewalld/permanent", "public port 30000-32767/udp\n")  # the user's own
    assert host.run(render_script()).returncode == 0
    assert "public port 30000-32767/tcp" in firewalld_rules(host, "permanent")
    result = host.run(render_script(control_plane_taint="1"))
    assert result.returncode == 0, result.stderr
    assert "firewall: closed the NodePorts 30000-32767 an earlier run opened" in result.stderr
    assert firewalld_rules(host, "runtime") == TAINTED
    # what the user opened stays open, and the record no longer names what was closed
    assert firewalld_rules(host, "permanent") == ["public port 30000-32767/udp", *TAINTED]
    assert "30000-32767" not in host.read("/etc/kubeinit/firewall")
    again = host.run(render_script(control_plane_taint="1"))
    assert again.returncode == 0, again.stderr
    assert "closed the NodePorts" not in again.stderr
    reset = host.run(render_script(control_plane_taint="1"), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert firewalld_rules(host, "permanent") == ["public port 30000-32767/udp"]
