"""What users read about their network: the Weave report on real `weave status` output and Weave's own
log lines (the host-side preflight is in test_weave_host.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import weave_samples as samples
from tests.support.network import call
from tests.support import render_script


@pytest.fixture(scope="module")
def script() -> str:
    return render_script()


def report(script: str, status: str, connections: str, nodes: str = "", log: str = ""):
    return call(script, "weave_report", status, connections, nodes, log)


def test_encrypted_fastdp_is_all_good_and_the_self_connection_is_no_failure(script) -> None:
    result = report(script, samples.ENCRYPTED_STATUS, samples.ENCRYPTED_FASTDP)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Weave Net encryption: enabled", "Established connections: 3 (encrypted 3, fastdp 3, sleeve 0)"]
    assert "Failing" not in result.stdout and "Likely causes" not in result.stdout
    assert "No peers yet" not in result.stdout


def test_encrypted_sleeve_names_the_peer_and_the_likely_causes(script) -> None:
    # The transcript's hosts run CentOS 7's kernel 3.10: that cause is named, with the node.
    nodes = "x01badaapp40a 10.91.141.85 3.10.0-1160.el7.x86_64\nx01badaapp41a 10.91.141.84 3.10.0-1160.el7.x86_64\n"
    result = report(script, samples.ENCRYPTED_SLEEVE_STATUS, samples.ENCRYPTED_SLEEVE, nodes)
    assert result.returncode == 1
    out = result.stdout
    assert "Established connections: 1 (encrypted 1, fastdp 0, sleeve 1)" in out
    assert "On sleeve, the slower user-space fallback:\n  10.91.141.84:40536 (x01badaapp41a.vsi.uat.dbs.com)\n" in out
    assert ("kernel: encrypted fastdp needs Linux 4.2 or newer: x01badaapp40a (10.91.141.85) runs Linux "
            "3.10.0-1160.el7.x86_64") in out
    for cause in ("ESP blocked", "UDP 6784 blocked", "NAT", "MTU"):
        assert cause in out
    assert "Failing connections" not in out  # the only failure is Weave dialling itself


def test_the_kernel_is_no_cause_on_current_kernels(script) -> None:
    # issue #13 defect 6: "kernel < 4.2" was listed even on 5.x kernels.
    nodes = "node1 10.91.141.85 6.1.0-27-amd64\nnode2 10.91.141.84 5.14.0-427.el9.x86_64\n"
    out = report(script, samples.ENCRYPTED_SLEEVE_STATUS, samples.ENCRYPTED_SLEEVE, nodes).stdout
    assert "On sleeve" in out and "ESP blocked" in out
    assert "kernel" not in out


def test_sleeve_quotes_what_weave_logged_about_that_peer(script) -> None:
    result = report(script, samples.DOCS_STATUS, samples.SLEEVE_MTU, "", samples.SLEEVE_MTU_LOG)
    assert result.returncode == 1
    quoted = result.stdout.split("What Weave logged about them:\n", 1)[1]
    assert "10.20.30.40:6783 (docker-elements-1.novalocal), Weave's log:" in quoted
    assert "overlay_switch ->[56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)] using sleeve" in quoted
    assert "Effective MTU verified at 1438" in quoted
    assert "Discovered remote MAC" not in quoted  # not about the datapath


def test_multiple_connections_is_no_failure(script) -> None:
    # issue #13 defect 6: Weave's duplicate-connection notice was reported as a failing link.
    nodes = "kube3 10.0.1.3 6.8.0-45-generic\nkube4 10.0.1.4 6.8.0-45-generic\n"
    result = report(script, samples.DOCS_STATUS, samples.MULTIPLE_CONNECTIONS, nodes)
    assert result.returncode == 0, result.stdout
    assert "Failing connections" not in result.stdout
    assert 'Duplicate connection attempts (harmless: "Multiple connections", the peers keep one):\n  10.0.1.3:6783 (kube3)\n' \
        in result.stdout


def test_targets_of_removed_nodes_are_no_failure_but_real_failures_stay(script) -> None:
    nodes = "ip-10-0-15-153 10.0.15.153 6.1.0\nip-10-0-42-69 10.0.42.69 6.1.0\n"  # 10.0.19.228 was removed
    result = report(script, samples.DOCS_STATUS, samples.REMOVED_TARGET, nodes)
    assert result.returncode == 0, result.stdout
    assert "no node has these addresses (removed hosts" in result.stdout and "  10.0.19.228\n" in result.stdout
    assert "Failing connections" not in result.stdout
    still_a_node = nodes + "ip-10-0-19-228 10.0.19.228 6.1.0\n"
    failing = report(script, samples.DOCS_STATUS, samples.REMOVED_TARGET, still_a_node)
    assert failing.returncode == 1
    assert "Failing connections:\n  10.0.19.228:6783 retrying: dial tcp4" in failing.stdout


def test_failed_retrying_and_waiting_connections_from_the_weave_docs(script) -> None:
    result = report(script, samples.DOCS_STATUS, samples.DOCS_CONNECTIONS)
    assert result.returncode == 1
    out = result.stdout
    assert "Weave Net encryption: disabled" in out
    assert "Established connections: 1 (encrypted 0, fastdp 1, sleeve 0)" in out
    assert ("Still connecting (normal for a minute after a host starts):\n"
            "  192.168.48.13:60773 (host3) pending\n  192.168.48.16:6783 connecting\n") in out
    assert ("Failing connections:\n"
            "  192.168.48.14:6783 retrying: dial tcp4 192.168.48.14:6783: no route to host\n"
            "  192.168.48.15:6783 failed: dial tcp4 192.168.48.15:6783: no route to host, retry: "
            "2015-08-06 18:55:38.246910357 +0000 UTC\n") in out
    assert "TCP 6783 (control) or UDP 6783-6784 (data) blocked" in out
    assert "peers disagree on encryption" in out


def test_unencrypted_sleeve_counts_no_encryption(script) -> None:
    result = report(script, samples.DOCS_STATUS, samples.UNENCRYPTED_SLEEVE)
    assert result.returncode == 1
    assert "Established connections: 2 (encrypted 0, fastdp 0, sleeve 2)" in result.stdout


def test_a_single_host_has_no_peers_yet_and_is_told_how_to_check_later(script) -> None:
    result = report(script, samples.ENCRYPTED_STATUS, samples.SINGLE_HOST)
    assert result.returncode == 0
    assert "No peers yet: this is the only Weave Net host. After another host joins, check again:" in result.stdout
    assert "kubectl -n kube-system exec POD -c weave -- /home/weave/weave --local status [connections]" in result.stdout


# --- rollout waits -------------------------------------------------------------------------------
ROLLING = r"""case "$*" in
  *"get nodes -o name"*) for i in $(seq 1 ${NODES:-1}); do echo node/node$i; done ;;
  *"rollout status"*) [ "${ROLLOUT:-ok}" = ok ] && echo 'daemon set "weave-net" successfully rolled out' && exit 0
    echo 'error: timed out waiting for the condition' >&2; exit 1 ;;
  *"get pods -l name=weave-net"*) printf '%s\n' \
    "weave-net-2k8hd|node1|Running|weave=true/,weave-npc=true/," \
    "weave-net-7xq2m|node7|Running|weave=false/CrashLoopBackOff,weave-npc=true/," \
    "weave-net-9vbnc||Pending|" ;;
esac
"""


def rollout(tmp_path: Path, **env: str):
    from tests.support import Stubs

    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": ROLLING})
    return call(render_script(), "network_rollout", "weave-net", "name=weave-net", env={**stubs.env(), **env}), stubs


def test_rollout_waits_grow_with_the_nodes(tmp_path: Path) -> None:
    # issue #13 defect 6: a fixed 300 s is too short for one-by-one rollouts over many nodes.
    result, stubs = rollout(tmp_path, NODES="12")
    assert result.returncode == 0, result.stderr
    assert ["kubectl", "-n", "kube-system", "rollout", "status", "daemonset/weave-net", "--timeout=840s"] in stubs.calls()


def test_an_unfinished_rollout_says_what_is_still_rolling(tmp_path: Path) -> None:
    result, _ = rollout(tmp_path, NODES="3", ROLLOUT="timeout")
    assert result.returncode == 1
    assert "weave-net is not rolled out after 300s (3 node(s)); still rolling:" in result.stderr
    assert "pod weave-net-7xq2m on node7: Running, containers weave=false/CrashLoopBackOff,weave-npc=true/" in result.stderr
    assert "pod weave-net-9vbnc on no node yet: Pending" in result.stderr
    assert "weave-net-2k8hd" not in result.stderr  # ready: not rolling


# --- what a re-run keeps (the rootfs runs in test_network.py cover the whole flow) -----------------
LIVE = r"""case "$*" in
  *"get daemonset weave-net"*) printf '%s' "$LIVE" ;;
  *) exit 1 ;;
esac
"""


def keep(tmp_path: Path, live: str, *flags: str):
    from tests.support import Stubs

    stubs = Stubs(tmp_path / "bin", ["kubectl"], {"kubectl": LIVE})
    script = render_script()
    words = ["eval", f"args_parse {' '.join(flags)}; weave_keep; settings_show"]
    return call(script, *words, env={**stubs.env(), "LIVE": live})


def test_a_re_run_keeps_the_live_mtu_and_encryption_unless_named(tmp_path: Path) -> None:
    kept = keep(tmp_path, "docker.io/rajchaudhuri/weave-kube:2.9.0|10.32.0.0/12||1400")
    assert kept.returncode == 0, kept.stderr
    assert "encrypt-network=0" in kept.stdout and "weave-mtu=1400" in kept.stdout
    changed = keep(tmp_path, "docker.io/rajchaudhuri/weave-kube:2.9.0|10.32.0.0/12||1400", "weave-mtu=1376")
    assert "weave-mtu=1376" in changed.stdout
    assert "Weave Net MTU 1400 -> 1376" in changed.stderr


def test_an_image_kubeinit_did_not_write_is_not_replaced_silently(tmp_path: Path) -> None:
    result = keep(tmp_path, "registry.example.com/weave-kube@sha256:0123|10.32.0.0/12|WEAVE_PASSWORD|")
    assert result.returncode == 1
    assert "weave-net runs registry.example.com/weave-kube@sha256:0123, which this installer cannot keep" in result.stderr
    assert "give weave-version (2.9.0 or 2.8.1) to replace it" in result.stderr


def test_every_connection_is_listed_and_an_unencrypted_one_is_named_whatever_the_summary_says(script) -> None:
    # issue #26 (Proof, encryption per connection): this peer has the password (Encryption: enabled), one
    # peer's connection is in clear (a peer without Secret weave-passwd); the counts alone hid which.
    mixed = samples.ENCRYPTED_FASTDP + samples.UNENCRYPTED_SLEEVE.splitlines(keepends=True)[0]
    result = report(script, samples.ENCRYPTED_STATUS, mixed)
    assert result.returncode == 1
    out = result.stdout
    assert ("Each connection (peer: datapath, encryption):\n"
            "  10.51.34.221:6783 (host1010051034221): fastdp, encrypted\n") in out
    assert "  10.51.34.223:6783 (host1010051034223): sleeve, NOT encrypted\n" in out
    assert "Unencrypted connections: 1\n  10.51.34.223:6783 (host1010051034223)\n" in out
    assert "runs without the password" in out
    # with encryption off on purpose, the clear connections are listed but are no failure
    plain = report(script, samples.DOCS_STATUS, samples.UNENCRYPTED_SLEEVE)  # Encryption: disabled
    assert "  10.51.34.221:6783 (host1010051034221): sleeve, NOT encrypted\n" in plain.stdout
    assert "runs without the password" not in plain.stdout
