"""reset (issue #12 item 3): kubeadm reset first, then Weave's traces (its Open vSwitch datapath removed
the way Weave's own tools do), then kube-proxy's and Weave's iptables chains, IPVS, kube-ipvs0 and
NodeLocal DNSCache's interface and rules; a step that fails warns, the rest goes on, and the end lists
what was left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import render_script
from tests.support.network import FIXTURES, netns_call, real_network_tools

real_tools = pytest.mark.skipif(not real_network_tools(), reason="needs root, unshare, iptables and nft")

STATE = "/var/lib/kubeinit-stubs"
# `ip` as the kernel answers for Weave's fast datapath device, an Open vSwitch datapath: `ip link
# show` lists it, `ip link delete` cannot remove it ("RTNETLINK answers: Operation not supported",
# exit 2; weaveworks/weave#3254, and why `weave reset` calls `weaveutil delete-datapath`). Every other
# call goes to the real ip. Calls are logged like the recording stubs', for order checks.
IP_WITH_DATAPATH = f"""#!/bin/sh
printf "ip%s\\n" "$(for a in "$@"; do printf " '%s'" "$a"; done)" >>"$STUB_LOG"
case "$*" in
  "link show datapath")
    [ -e {STATE}/datapath ] || {{ echo 'Device "datapath" does not exist.' >&2; exit 1; }}
    echo "5: datapath: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1376 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000"
    echo "    link/ether 7a:2c:a1:5e:0b:8f brd ff:ff:ff:ff:ff:ff"; exit 0 ;;
  "link delete datapath")
    if [ -e {STATE}/datapath ]; then echo "RTNETLINK answers: Operation not supported" >&2; exit 2; fi
    echo 'Cannot find device "datapath"' >&2; exit 1 ;;
esac
exec /usr/bin/ip "$@"
"""
# The CNI plugin weave-init installs is weaveutil under another name (rajch/weave
# prog/weaveutil/main.go: with arguments it runs the named command, e.g. delete-datapath).
WEAVEUTIL = f"""#!/bin/sh
printf "weave-plugin-2.9.0%s\\n" "$(for a in "$@"; do printf " '%s'" "$a"; done)" >>"$STUB_LOG"
[ "$1 $2" = "delete-datapath datapath" ] && rm -f {STATE}/datapath
"""
WEAVE_TRACES = ["/var/lib/weave/weave-netdata.db", "/etc/cni/net.d/10-weave.conflist", "/opt/cni/bin/weave-net",
                "/opt/cni/bin/weave-ipam"]


def fast_datapath_host(tmp_path: Path, weaveutil: bool = True, behaviour: dict | None = None):
    from tests.support.rootfs import Machine

    machine = Machine(tmp_path, behaviour=behaviour)
    machine.write("/usr/local/sbin/ip", IP_WITH_DATAPATH, 0o755)
    machine.write(f"{STATE}/datapath", "")
    for path in WEAVE_TRACES:
        machine.write(path, "x")
    if weaveutil:
        machine.write("/opt/cni/bin/weave-plugin-2.9.0", WEAVEUTIL, 0o755)
    machine.write("/etc/kubernetes/kubelet.conf", "x")  # a node of a cluster
    return machine


@pytest.mark.parametrize("template", ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2"])
@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_reset_removes_the_datapath_with_weaves_tool_after_kubeadm_reset(tmp_path: Path, template: str) -> None:
    machine = fast_datapath_host(tmp_path)
    result = machine.run(render_script(template), "reset", "yes")
    assert result.returncode == 0, result.stderr
    commands = machine.commands()
    kubeadm = next(i for i, c in enumerate(commands) if c.startswith("kubeadm reset"))
    datapath = commands.index("weave-plugin-2.9.0 delete-datapath datapath")
    assert kubeadm < datapath  # the kubelet and its pods are gone before their traces are removed
    assert "ip link delete datapath" not in commands
    assert not machine.exists(f"{STATE}/datapath")
    assert [p for p in WEAVE_TRACES + ["/opt/cni/bin/weave-plugin-2.9.0"] if machine.exists(p)] == []
    assert "could not remove" not in result.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_reset_goes_on_when_a_step_fails_and_lists_what_was_left(tmp_path: Path) -> None:
    # issue #12 item 3: `ip link delete datapath` failed with "Operation not supported" and reset died
    # there, before kubeadm reset. Without Weave's tool, and with kubeadm reset failing too, reset now
    # reaches its end, removes the rest, and names both.
    from tests.support.rootfs import DEFAULT_BEHAVIOUR

    kubeadm = DEFAULT_BEHAVIOUR["kubeadm"].replace(
        "  \"reset \"*) rm -rf", "  \"reset \"*) echo '[reset] error: failed to stop the kubelet' >&2; exit 1 ;;\n  never) rm -rf")
    machine = fast_datapath_host(tmp_path, weaveutil=False, behaviour={"kubeadm": kubeadm})
    result = machine.run(render_script(), "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert "RTNETLINK answers: Operation not supported" in result.stderr  # the kernel's own words
    left = result.stderr.split("reset finished, but could not remove:\n", 1)[1]
    assert "  - the cluster state (kubeadm reset failed: its messages are above)\n" in left
    assert "  - interface datapath (Weave's Open vSwitch datapath: reboot, or run 'weaveutil delete-datapath datapath')\n" in left
    assert [p for p in WEAVE_TRACES if machine.exists(p)] == []  # the rest went on
    assert "reset done." in result.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_reset_removes_kube_ipvs0_and_nodelocaldns(tmp_path: Path) -> None:
    from tests.support.rootfs import Machine

    machine = Machine(tmp_path)
    machine.write("/etc/kubernetes/kubelet.conf", "x")
    # The two interfaces exist in this run's network namespace (veth pairs: this kernel may lack dummy).
    setup = ("ip link add kube-ipvs0 type veth peer name kube-ipvs0-p\n"
             "ip link add nodelocaldns type veth peer name nodelocaldns-p\n")
    result = machine.run(setup + render_script(), "reset", "yes", "dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ 'ip' 'link' 'delete' 'kube-ipvs0'\n" in result.stdout
    assert "+ 'ip' 'link' 'delete' 'nodelocaldns'\n" in result.stdout
    kubeadm = result.stdout.index("+ 'kubeadm' 'reset'")
    assert kubeadm < result.stdout.index("+ 'ip' 'link' 'delete' 'kube-ipvs0'")


@real_tools
def test_kube_and_weave_chains_and_node_cache_rules_go_the_admins_rules_stay() -> None:
    """The rules of a cluster host, loaded with the real iptables-restore in a private network namespace;
    netreset_iptables removes them with iptables-restore --noflush, as on a host; iptables-save reads back."""
    loaded = FIXTURES / "cluster-host.iptables-restore"
    script = render_script(nodelocal_dnscache="1")
    before = netns_call(script, "iptables-save", setup=f"iptables-restore < {loaded}")
    assert "KUBE-SERVICES" in before.stdout and "WEAVE-NPC" in before.stdout
    result = netns_call(script, "eval", "netreset_iptables; iptables-save", setup=f"iptables-restore < {loaded}")
    assert result.returncode == 0, result.stderr
    after = result.stdout
    assert "KUBE-" not in after and "WEAVE" not in after, after
    assert "169.254.20.10" not in after and "10.96.0.10" not in after, after
    assert "--mark 0x20000/0x20000" not in after and " weave " not in after
    assert "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT" in after  # the admin's own rule
    assert ":FORWARD DROP" in after  # policies are the admin's too
