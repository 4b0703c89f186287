"""lib/verify: the verify-first command the installer prints when the service signs its scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.params import parse_pairs
from app.rendering import render
from tests.support import Stubs, render_script, run_bash
from tests.support.network import call

TEMPLATE = "scripts/kubernetes-init.sh.j2"


def test_unsigned_the_command_is_the_plain_pipe():
    script = render_script()
    assert "KUBEINIT_SIGNED=0" in script
    result = call(script, "verify_command", "kubernetes-node-join", "kubernetes_version=1.37.3", "join-file=/root/kubeinit-join")
    assert result.stdout == ("curl -sSL 'http://kubeinit.test:8000/kubernetes-node-join?kubernetes_version=1.37.3' "
                             "| sudo bash -s join-file=/root/kubeinit-join\n")


def signed_client(settings_env, tmp_path: Path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    return settings_env(KUBEINIT_SIGNING_KEY=str(tmp_path / "key"))


def run_printed(tmp_path: Path, command: str, served: dict[str, bytes], label: str):
    """The printed command, run as a user would (bash, in a directory holding allowed_signers), with
    curl replaced by a stub that saves the service's (or a man in the middle's) answers: whether the
    script ran as root (sudo's stub records it), and the output."""
    for name, body in served.items():
        (tmp_path / f"{name}.served").write_bytes(body)
    stubs = Stubs(tmp_path / f"stubs-{label}", ["curl", "sudo"], {"curl": f'cp "{tmp_path}/$3.served" "$3"'})
    ran = subprocess.run(["bash", "-euc", command], cwd=tmp_path, env={**stubs.env(), "HOME": str(tmp_path)},
                         capture_output=True, text=True, check=False)
    return ran, any(c[:2] == ["sudo", "bash"] for c in stubs.calls())


QUERY = "nodelocal_dnscache=1&kubernetes_version=1.36.2"


def test_signed_the_command_downloads_verifies_then_runs(settings_env, tmp_path: Path):
    client = signed_client(settings_env, tmp_path)
    script = client.get("/kubernetes-init").text
    assert "KUBEINIT_SIGNED=1" in script
    result = call(script, "verify_command", "kubernetes-node-join", QUERY, "join-file=/root/kubeinit-join")
    lines = result.stdout.splitlines()
    base = "http://testserver"
    assert lines[:5] == [
        f"curl -fsSL -o kubernetes-node-join.sh '{base}/kubernetes-node-join?{QUERY}' &&",
        f"    curl -fsSL -o kubernetes-node-join.sh.sig '{base}/kubernetes-node-join.sig?{QUERY}' &&",
        "    ssh-keygen -Y verify -f allowed_signers -I kubeinit -n kubeinit -s kubernetes-node-join.sh.sig <kubernetes-node-join.sh &&",
        f"    bash kubernetes-node-join.sh check-query='{QUERY}' &&",
        "    sudo bash kubernetes-node-join.sh join-file=/root/kubeinit-join",
    ]
    assert f"{base}/kubeinit.pub" in lines[5]

    # The command as printed works: with the service's files in place of curl's downloads, it
    # verifies and runs; a script changed on the way is not run.
    (tmp_path / "allowed_signers").write_bytes(client.get("/kubeinit.pub").content)
    command = "\n".join(lines[:5])
    script_bytes = client.get(f"/kubernetes-node-join?{QUERY}").content
    signature = client.get(f"/kubernetes-node-join.sig?{QUERY}").content
    ran, ran_script = run_printed(tmp_path, command, {"kubernetes-node-join.sh": script_bytes,
                                                      "kubernetes-node-join.sh.sig": signature}, "good")
    assert ran.returncode == 0 and ran_script, ran.stderr
    assert "this script is the one made for your query" in ran.stderr
    ran, ran_script = run_printed(tmp_path, command, {"kubernetes-node-join.sh": script_bytes + b"# changed\n",
                                                      "kubernetes-node-join.sh.sig": signature}, "changed")
    assert ran.returncode != 0 and not ran_script


def test_a_signed_script_of_another_query_is_refused_naming_each_option_that_differs(settings_env, tmp_path: Path):
    """A man in the middle of a plain-http download answers with the service's own script and
    signature for another query: ssh-keygen -Y verify passes (the service did sign it), so
    check-query must stop the command before the script runs as root, naming what differs."""
    client = signed_client(settings_env, tmp_path)
    (tmp_path / "allowed_signers").write_bytes(client.get("/kubeinit.pub").content)
    asked = "nodelocal-dnscache=yes"  # as an operator may spell it: the check compares canonical forms
    hostile = "encrypt_network=0&nodelocal_dnscache=1&registry_mirror=docker.io=mirror.evil.example"
    script = client.get("/kubernetes-init").text
    command = "\n".join(call(script, "verify_command", "kubernetes-init", asked).stdout.splitlines()[:5])
    served = {"kubernetes-init.sh": client.get(f"/kubernetes-init?{hostile}").content,
              "kubernetes-init.sh.sig": client.get(f"/kubernetes-init.sig?{hostile}").content}
    ran, ran_script = run_printed(tmp_path, command, served, "hostile")
    assert 'Good "kubeinit" signature' in ran.stdout + ran.stderr  # the signature alone does not catch it
    assert ran.returncode == 1 and not ran_script
    assert "kubeinit: check-query: encrypt_network: this script holds '0', you asked for '1'" in ran.stderr
    assert ("kubeinit: check-query: registry_mirror: this script holds 'docker.io=mirror.evil.example', "
            "you asked for ''") in ran.stderr
    assert "nodelocal_dnscache" not in ran.stderr.split("this is not the script")[0]  # asked 1, holds 1
    assert "this is not the script of your query" in ran.stderr

    # The same query in the service's own spelling, and in the operator's, both match the genuine script.
    genuine = client.get("/kubernetes-init?nodelocal_dnscache=1").text
    for spelling in ("nodelocal_dnscache=1", asked, "NODELOCAL-DNSCACHE=on&encrypt_network=1&weave_version=2.9.0"):
        result = run_bash(genuine, f"check-query={spelling}", as_nobody=True)
        assert result.returncode == 0, (spelling, result.stderr)


@pytest.mark.parametrize(("query", "message"), [
    ("pod_cidr=10.32.0.1/12", "kubeinit: check-query: pod_cidr: '10.32.0.1/12' has host bits set"),
    ("encrypt_netwrk=0", "kubeinit: check-query: encrypt_netwrk: unknown option"),
    ("firewall=maybe", "kubeinit: check-query: firewall: 'maybe' is not one of"),
])
def test_check_query_with_a_query_that_is_wrong_says_what_and_fails(query, message):
    result = run_bash(render_script(), f"check-query={query}", as_nobody=True)
    assert result.returncode == 1 and message in result.stderr
    assert "is the one made for your query" not in result.stderr


def test_check_query_takes_the_fleets_defaults_as_the_service_does(settings_env):
    """With option_defaults the service pins the fleet's defaults in the script's query: an operator
    who leaves such an option out asked for the fleet's default, which the script holds."""
    client = settings_env(KUBEINIT_OPTION_DEFAULTS='{"nodelocal_dnscache": "1"}')
    script = client.get("/kubernetes-init?pod_cidr=10.40.0.0/16").text
    assert "KUBEINIT_QUERY='nodelocal_dnscache=1&pod_cidr=10.40.0.0/16'" in script
    assert run_bash(script, "check-query=pod_cidr=10.40.0.0/16", as_nobody=True).returncode == 0
    refused = run_bash(script, "check-query=pod_cidr=10.40.0.0/16&nodelocal_dnscache=0", as_nobody=True)
    assert refused.returncode == 1
    assert "nodelocal_dnscache: this script holds '1', you asked for '0'" in refused.stderr


@pytest.mark.parametrize(("base", "warned"), [
    ("http://kubeinit.example.com", True), ("http://10.0.0.9:8000", True), ("https://kubeinit.example.com", False),
    ("http://127.0.0.1:8000", False), ("http://localhost:8000", False), ("http://[::1]:8000", False),
])
def test_a_script_fetched_over_plain_http_from_another_host_warns(base, warned):
    script = render(TEMPLATE, parse_pairs([]), base).body.decode()
    result = run_bash(script, "dry-run", as_nobody=True)  # what the user sees first, before any check
    assert ("[WARN] this script came over plain http from" in result.stderr) is warned, result.stderr


@pytest.mark.parametrize("template", ["scripts/kubernetes-node-join.sh.j2", "scripts/kubernetes-troubleshoot.sh.j2"])
def test_check_query_binds_every_scripts_query(template):
    script = render_script(template, nodelocal_dnscache="1")
    assert run_bash(script, "check-query=nodelocal-dnscache=yes", as_nobody=True).returncode == 0
    other = run_bash(script, "check-query=nodelocal_dnscache=0", as_nobody=True)
    assert other.returncode == 1
    assert "kubeinit: check-query: nodelocal_dnscache: this script holds '1', you asked for '0'" in other.stderr
