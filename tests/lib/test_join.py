"""The join script: the JoinConfiguration it gives kubeadm (kubeadm-config.v1beta4), the secrets
kept out of argv and logs, joining as a worker or as a control plane, and its preflight."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.support import render_script, run_bash, with_body
from tests.support.cluster import JOIN, add_nodes, join_flags
from tests.support.rootfs import CA_HASH, TOKEN_GENERATED, UPLOADED_KEY, Machine


# The fields of JoinConfiguration, Discovery, BootstrapTokenDiscovery and JoinControlPlane in the
# v1beta4 reference (https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/).
JOIN_FIELDS = {"apiVersion", "kind", "dryRun", "nodeRegistration", "caCertPath", "discovery", "controlPlane",
               "skipPhases", "patches", "timeouts"}
DISCOVERY = {"bootstrapToken", "file", "tlsBootstrapToken"}
BOOTSTRAP_TOKEN_DISCOVERY = {"token", "apiServerEndpoint", "caCertHashes", "unsafeSkipCAVerification"}
JOIN_CONTROL_PLANE = {"localAPIEndpoint", "certificateKey"}


def join_config(*flags: str, **query: str) -> dict:
    script = with_body(render_script(JOIN, **query), 'args_parse "$@"\njoin_check\njoin_config 192.0.2.20')
    result = run_bash(script, *flags)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_a_worker_joins_with_token_discovery_and_its_node_ip() -> None:
    config = join_config(*join_flags(api="cp.example.com"))
    assert set(config) <= JOIN_FIELDS and set(config["discovery"]) <= DISCOVERY
    assert set(config["discovery"]["bootstrapToken"]) <= BOOTSTRAP_TOKEN_DISCOVERY
    assert config["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "cp.example.com:6443", "token": TOKEN_GENERATED, "caCertHashes": [CA_HASH]}
    assert config["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.0.2.20"}]
    assert "taints" not in config["nodeRegistration"]  # a worker keeps kubeadm's (none)
    assert "controlPlane" not in config


def test_a_control_plane_joins_with_its_certificate_key_and_advertised_address() -> None:
    config = join_config(*join_flags(api="lb.example.com:8443"), "control-plane", f"certificate-key={UPLOADED_KEY}")
    assert set(config["controlPlane"]) <= JOIN_CONTROL_PLANE
    assert config["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "192.0.2.20", "bindPort": 6443},
                                      "certificateKey": UPLOADED_KEY}
    assert config["nodeRegistration"]["taints"] == []


@pytest.mark.parametrize(("flags", "message"), [
    (("control-plane",), "missing certificate-key"),
    ((f"certificate-key={UPLOADED_KEY}",), "certificate-key is for joining as a control plane: add control-plane"),
    (("certificate-key=XYZ", "control-plane"), "certificate-key: 'XYZ' is not HEX"),
    (("control-plane=1",), "control-plane: takes no value"),
])
def test_control_plane_flags_are_checked_before_anything_runs(flags, message) -> None:
    result = run_bash(render_script(JOIN), *join_flags(), *flags, "dry-run")
    assert result.returncode == 1
    assert message in result.stderr




@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_token_reaches_kubeadm_in_a_private_file_that_is_removed(tmp_path: Path) -> None:
    # kubeadm records the mode and content of the file it was given, as it reads it.
    host = Machine(tmp_path, behaviour={"kubeadm": 'case $1 in join) cfg=$3; stat -c %a "$cfg" >/seen-mode; '
                                        'cp "$cfg" /seen-config ;; esac\n' + _default_kubeadm()})
    result = host.run(render_script(JOIN), *join_flags(), "private-address=10.0.0.5")
    assert result.returncode == 0, result.stderr
    join = next(c for c in host.calls() if c[:2] == ["kubeadm", "join"])
    assert join[2] == "--config" and len(join) == 4
    assert host.read("/seen-mode") == "600\n"
    assert TOKEN_GENERATED in host.read("/seen-config")
    assert f"value: \"10.0.0.5\"" in host.read("/seen-config")  # private-address is the kubelet's node-ip
    assert not host.exists(join[3])
    assert not any(TOKEN_GENERATED in " ".join(c) for c in host.calls())
    assert TOKEN_GENERATED not in result.stderr


def _default_kubeadm() -> str:
    from tests.support.rootfs import DEFAULT_BEHAVIOUR

    return DEFAULT_BEHAVIOUR["kubeadm"]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_control_plane_join_gets_roots_kubeconfig_and_warns_for_an_even_count(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    add_nodes(host, "cp1 control-plane True v1.37.3")  # the first control plane, as the cluster lists it
    result = host.run(render_script(JOIN, control_plane_endpoint="lb.example.com"),
                      *join_flags(api="lb.example.com"), "control-plane", f"certificate-key={UPLOADED_KEY}")
    assert result.returncode == 0, result.stderr
    assert host.read("/root/.kube/config") == host.read("/etc/kubernetes/admin.conf")
    assert "this cluster now has 2 control-plane hosts" in result.stderr and "add one more control plane" in result.stderr
    assert "curl -fsk --max-time 10 -o /dev/null https://lb.example.com:6443/readyz" in host.commands()
    assert UPLOADED_KEY not in result.stderr and not any(UPLOADED_KEY in " ".join(c) for c in host.calls())


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_an_endpoint_that_does_not_answer_stops_the_join_before_kubeadm(tmp_path: Path) -> None:
    # curl's own failure: exit 7, "Failed to connect to ... Connection refused".
    host = Machine(tmp_path, behaviour={"curl": 'case "$*" in *readyz*) echo "curl: (7) Failed to connect to '
                                        'lb.example.com port 6443: Connection refused" >&2; exit 7 ;; esac'})
    result = host.run(render_script(JOIN), *join_flags(api="lb.example.com"))
    assert result.returncode == 1
    assert "api-server lb.example.com:6443 does not answer" in result.stderr
    assert not [c for c in host.commands() if c.startswith("kubeadm join")]
    assert not host.exists("/etc/kubernetes/kubelet.conf")


def join_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "kubeinit-join"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_join_flags_can_come_from_a_root_only_file(tmp_path: Path) -> None:
    """The printed block's file, as pasted (indented, CRLF, a comment), gives kubeadm what the flags give."""
    lines = "\n".join(f"  {flag}\r" for flag in (*join_flags(api="lb.example.com:8443"), "control-plane",
                                                   f"certificate-key={UPLOADED_KEY}"))
    path = join_file(tmp_path, f"# written by the join block\n{lines}\n\n")
    from_file = join_config(f"join-file={path}")
    assert from_file == join_config(*join_flags(api="lb.example.com:8443"), "control-plane",
                                    f"certificate-key={UPLOADED_KEY}")
    assert from_file["discovery"]["bootstrapToken"]["token"] == TOKEN_GENERATED


@pytest.mark.parametrize(("content", "mode", "flags", "message"), [
    ("token=x\n", 0o644, (), "is open to other users (mode 644): chmod 600"),
    (f"token={TOKEN_GENERATED}\nkubernetes-version=1.36\n", 0o600, (),
     "line 2 is not NAME=VALUE with one of: api-server token ca-cert-hash control-plane iptables-backend certificate-key"),
    (f"{TOKEN_GENERATED}\n", 0o600, (), "line 1 is not NAME=VALUE with one of"),
    ("\n".join(join_flags()), 0o600, ("api-server=10.9.9.9",),
     "api-server: given both on the command line and in"),
    ("token=ABCDEF.0123456789abcdef\n", 0o600, (), "token: 'ABCDEF.0123456789abcdef' is not TOKEN"),
])
def test_a_join_file_that_will_not_do_stops_before_anything_runs(tmp_path: Path, content, mode, flags,
                                                                  message) -> None:
    path = join_file(tmp_path, content, mode)
    result = run_bash(render_script(JOIN), f"join-file={path}", *flags, "dry-run")
    assert result.returncode == 1 and result.stdout == ""
    assert message in result.stderr
    assert TOKEN_GENERATED not in result.stderr  # a line that is not NAME=VALUE is not echoed: it may be the token
    assert len(result.stderr.splitlines()) == 2  # the reason, then where the options are listed


def test_a_missing_join_file_says_how_to_make_it(tmp_path: Path) -> None:
    result = run_bash(render_script(JOIN), f"join-file={tmp_path}/absent", "dry-run")
    assert result.returncode == 1
    assert f"join-file: {tmp_path}/absent does not exist: on this host, follow the join steps kubernetes-init printed" in result.stderr


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_printed_join_block_pasted_on_a_new_host_joins_it_with_the_token_in_no_argv(tmp_path: Path) -> None:
    """The control plane's block, run as printed: its here-document writes a 0600 file; the join reads it,
    joins, and removes it; the token is in no argument list of any command (the stubs record each)
    and not in the log."""
    from tests.lib.test_join_history import join_steps
    from tests.support.cluster import control_plane

    _, installed = control_plane(tmp_path, version="1.36")
    block = installed.stdout.split("To add a worker to this cluster, on it:\n\n", 1)[1]
    start, secrets, join_line = join_steps(block)
    join_line = join_line.rstrip("\n")
    assert start == "sudo sh -c 'umask 077 && rm -f /root/kubeinit-join && cat >/root/kubeinit-join'\n"
    assert f"token={TOKEN_GENERATED}\n" in secrets and TOKEN_GENERATED not in start + join_line
    first = start.rstrip("\n") + " <<'JOIN'\n" + secrets + "JOIN"  # cat's input, as the operator pastes it
    assert re.search(r"(^|\n)iptables-backend=(nft|legacy)\n", secrets)  # the worker's preflight compares its own
    url, flags = join_line.split(" | sudo bash -s ")
    assert url.startswith("curl -sSL 'http://") and flags == "join-file=/root/kubeinit-join"

    worker = Machine(tmp_path / "worker")
    worker.write("/usr/local/sbin/sudo", '#!/bin/sh\nexec "$@"\n', mode=0o755)  # root's sudo runs the command
    worker.write("/root/kubeinit-join", "stale\n", mode=0o644)  # an earlier paste's file: replaced, mode and all
    assert worker.run(first + "\n").returncode == 0
    assert worker.path("/root/kubeinit-join").stat().st_mode & 0o777 == 0o600
    result = worker.run(render_script(JOIN, kubernetes_version="1.36.3"), *flags.split())
    assert result.returncode == 0, result.stderr
    assert any(c[:2] == ["kubeadm", "join"] for c in worker.calls())
    assert not worker.exists("/root/kubeinit-join")
    assert "removed /root/kubeinit-join: it held the join token" in result.stderr
    assert not [c for c in worker.calls() if any(TOKEN_GENERATED in word for word in c)]
    assert TOKEN_GENERATED not in result.stderr
    assert TOKEN_GENERATED not in (worker.read("/var/log/kubeinit/kubernetes-node-join.log") or "")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_failed_join_keeps_the_join_file_so_the_same_command_runs_again(tmp_path: Path) -> None:
    """kubeadm join failing as kubeadm does (its message, exit 1): the file stays and the same command,
    run again, joins and removes it; a third run says the host has joined and what to give instead."""
    # kubeadm's whole output, exit 1, when the API server does not know the token: the message is
    # cmd/kubeadm/app/discovery/token/token.go's, wrapped by the phase runner ("error execution phase
    # preflight:"), then kubeadm's stack-trace hint; recorded in users' reports of an expired token.
    failing = ('[ "$1" != join ] || { echo "[preflight] Running pre-flight checks"; '
               'echo "error execution phase preflight: couldn\'t validate the identity of '
               'the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID '
               '\\"abcdef\\"" >&2; echo "To see the stack trace of this error execute with --v=5 or higher" >&2; '
               'exit 1; }\n' + _default_kubeadm())
    host = Machine(tmp_path, behaviour={"kubeadm": failing})
    host.write("/root/kubeinit-join", "\n".join(join_flags()) + "\n", mode=0o600)
    script = render_script(JOIN, kubernetes_version="1.36.3")
    first = host.run(script, "join-file=/root/kubeinit-join")
    assert first.returncode != 0 and "kubeadm join failed" in first.stderr
    assert "could not find a JWS signature" in first.stderr  # kubeadm's own reason reaches the user
    assert "needs fresh join steps: run kubernetes-init again on the control plane" in first.stderr
    assert host.exists("/root/kubeinit-join")
    host.behave("kubeadm")  # the token is valid again (a fresh one, say)
    again = host.run(script, "join-file=/root/kubeinit-join")
    assert again.returncode == 0, again.stderr
    assert not host.exists("/root/kubeinit-join")
    third = host.run(script, "join-file=/root/kubeinit-join")
    assert third.returncode == 1
    assert ("join-file: /root/kubeinit-join does not exist: this host has joined already, and the join removed "
            "the file: give the join flags again") in third.stderr
