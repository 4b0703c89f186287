"""The rendered installer: every variant through bash -n and shellcheck, and its frame's behaviour."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from app.params import OptionError, describe, flag, parse_pairs, text
from app.rendering import TEMPLATES, render_error
from tests.support import MAIN_CALL, render_script, run_bash

# Every served script (an entry template: no leading underscore), so new scripts are checked too.
ENTRY_TEMPLATES = sorted(f"scripts/{p.name}" for p in (TEMPLATES / "scripts").glob("*.sh.j2") if p.name != "error.sh.j2")

VARIANTS = {
    "defaults": {},
    "unencrypted": {"encrypt-network": "0"},
    "dnscache-ipvs": {"nodelocal_dnscache": "1", "kube_proxy_mode": "ipvs"},
    "everything-set": {
        "encrypt_network": "off",
        "nodelocal_dnscache": "yes",
        "nodelocal_address": "169.254.25.10",
        "kubernetes_version": "1.35.4",
        "pod_cidr": "172.16.0.0/16",
        "service_cidr": "172.17.0.0/20",
        "cluster_domain": "corp.internal",
        "kube_proxy_mode": "ipvs",
        "weave_version": "2.9.0",
        "weave_mtu": "1400",
        "private_address": "192.168.10.5",
        "public_address": "k8s.example.com",
        "control_plane_endpoint": "10.0.0.100:6443",  # ha_vip: the API servers' port
        "ha_vip": "10.0.0.100",
        "control_plane_taint": "1",
        "http_proxy": "http://alice@proxy.example.com:3128",
        "proxy_password_file": "/root/proxy-password",
        "no_proxy": ".corp.example.com,10.1.0.0/16",
        "registry_mirror": "docker.io=mirror.example.com/hub",
        "registry_mirror_ca": "/etc/ssl/ca.pem",
        "airgap": "/root/bundle.tar.gz",
    },
    "ha-endpoint": {"control_plane_endpoint": "lb.example.com"},
}


def shellcheck(body: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["shellcheck", "--severity=warning", "--shell=bash", "-"], input=body, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("template", ENTRY_TEMPLATES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_passes_bash_n_and_shellcheck(template, variant):
    body = render_script(template, **VARIANTS[variant])
    syntax = subprocess.run(["bash", "-n"], input=body, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    lint = shellcheck(body)
    assert lint.returncode == 0, lint.stdout


def test_the_error_script_passes_shellcheck():
    lint = shellcheck(render_error([("pod_cidr", "'$(id)' is not an IPv4 CIDR"), ("x`y`", "unknown option")]))
    assert lint.returncode == 0, lint.stdout


def test_the_script_is_functions_only_ending_in_main():
    body = render_script()
    assert body.startswith("#!/usr/bin/env bash\n")
    assert body.endswith(MAIN_CALL)
    assert "\nset -euo pipefail\n" in body


def test_help_needs_no_root_and_lists_every_option_with_its_baked_in_value():
    result = run_bash(render_script(**{"encrypt-network": "0"}), "help", as_nobody=True)
    assert result.returncode == 0, result.stderr
    for row in describe():
        assert f"{row['flag']}={row['placeholder']}" in result.stdout
    assert "encrypt-network=BOOL  Encrypt pod traffic (now: 0)" in result.stdout
    assert "dry-run" in result.stdout


def test_dry_run_needs_no_root_and_logs_version_and_resolved_settings_first():
    result = run_bash(render_script(), "dry-run", "encrypt-network=0", "--pod_cidr=10.0.0.0/16", as_nobody=True)
    assert result.returncode == 0, result.stderr
    first, second = result.stderr.splitlines()[:2]
    assert re.fullmatch(r"\[INFO\] kubeinit \S+ installer from http://kubeinit\.test:8000/kubernetes-init", first)
    assert second.startswith("[INFO] settings: encrypt-network=0 ")
    assert " pod-cidr=10.0.0.0/16 " in second


def test_a_non_root_run_stops_with_a_clear_message():
    result = run_bash(render_script(), as_nobody=True)
    assert result.returncode == 1
    assert "run as root" in result.stderr and "sudo bash" in result.stderr


def test_an_unknown_flag_says_what_was_meant_and_where_help_is_and_exits_1():
    result = run_bash(render_script(), "encrypt-networks=0", as_nobody=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "kubeinit: encrypt-networks: unknown option (did you mean encrypt-network?)",
        "kubeinit: list the options and actions with: curl -sSL 'http://kubeinit.test:8000/kubernetes-init' | bash -s help",
    ]


def test_a_flag_given_twice_with_different_values_is_an_error():
    result = run_bash(render_script(), "help", "encrypt-network=1", "encrypt_network=off", as_nobody=True)
    assert result.returncode == 1
    assert "kubeinit: encrypt-network: given twice with different values" in result.stderr


def test_run_by_sh_says_it_needs_bash():
    result = subprocess.run(["sh", "-s", "help"], input=render_script(), capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "needs bash" in result.stderr


# Values and what the service makes of them: the script's parser must agree on each.
PARITY_SAMPLES = [
    ("encrypt-network", v) for v in ["", "1", "0", "TRUE", "off", "Yes", "t", "2", "on ", "nope"]
] + [
    ("nodelocal-address", v) for v in ["169.254.20.10", "169.254.20", "169.254.20.256", "01.2.3.4", "1.2.3.4 ", "",
                                         "8.8.8.8", "127.0.0.1", "0.0.0.0", "169.255.0.1"]
] + [
    ("kubernetes-version", v) for v in ["1.35", "1.37.12", "1.34", "1.37.", "1.37.01", "v1.36", "1.36.1234"]
] + [
    ("pod-cidr", v) for v in ["10.0.0.0/8", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0", "0.0.0.0/0", "10.32.0.0/12"]
] + [
    ("service-cidr", v) for v in ["10.96.0.0/28", "10.96.0.0/29", "10.40.0.0/16"]
] + [
    ("cluster-domain", v) for v in ["cluster.local", "a.b-c.d", "A.b", "a..b", "-a.b", "a-.b", "x" * 64 + ".local", ""]
] + [
    ("kube-proxy-mode", v) for v in ["ipvs", "iptables", "IPVS", "nftables", "userspace"]
] + [
    ("weave-version", v) for v in ["2.8.1", "2.9.0", "2.9"]
] + [
    ("weave-mtu", v) for v in ["", "576", "9000", "575", "9001", "01400", "1400"]
] + [
    ("public-address", v) for v in ["", "203.0.113.9", "k8s.example.com", "1.2.3.999", "UPPER.example", "a_b.c"]
] + [
    ("private-address", v) for v in ["", "10.1.2.3", "10.1.2"]
]


def python_verdict(name: str, value: str) -> tuple[str | None, str | None]:
    """(the value the service would bake in, None) or (None, the option its error names)."""
    try:
        return text(getattr(parse_pairs([(name, value)]), name.replace("-", "_"))), None
    except OptionError as error:
        return None, error.problems[0][0]


@pytest.fixture(scope="module")
def script_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("script") / "kubernetes-init.sh"
    path.write_text(render_script())
    return path


@pytest.mark.parametrize(("name", "value"), PARITY_SAMPLES)
def test_the_scripts_parser_agrees_with_the_service(script_file, name, value):
    result = subprocess.run(
        ["bash", str(script_file), "help", f"{name}={value}"], capture_output=True, text=True, check=False,
        env={"PATH": os.environ["PATH"], "NO_COLOR": "1"},
    )
    expected, culprit = python_verdict(name, value)
    if culprit is not None:
        assert result.returncode == 1, result.stdout
        assert f"kubeinit: {flag(culprit)}: " in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        shown = re.search(rf"^  {re.escape(name)}=\S+  [^(]+ \(now: (.*)\)$", result.stdout, re.M).group(1)
        assert shown == (expected or "unset")


def test_flags_in_both_spellings_override_baked_in_defaults(script_file):
    result = subprocess.run(
        ["bash", str(script_file), "help", "NODELOCAL_DNSCACHE", "--kube-proxy-mode=ipvs"],
        capture_output=True, text=True, check=False,
    )
    assert "nodelocal-dnscache=BOOL  NodeLocal DNS cache (now: 1)" in result.stdout
    assert "kube-proxy-mode=MODE  kube-proxy mode (now: ipvs)" in result.stdout


def test_logs_are_coloured_on_a_terminal_only_without_no_color(script_file, tmp_path):
    def on_tty(no_color: bool) -> str:
        env = {"PATH": os.environ["PATH"], "TERM": "xterm"}
        if no_color:
            env["NO_COLOR"] = "1"
        command = f"setpriv --reuid=65534 --regid=65534 --clear-groups bash -s dry-run <{script_file}"
        return subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                              env=env, check=False).stdout

    assert "\x1b[32m[INFO]\x1b[0m kubeinit" in on_tty(no_color=False)
    assert "\x1b[" not in on_tty(no_color=True)
    piped = run_bash(render_script(), "dry-run", as_nobody=True, env={"NO_COLOR": ""})
    assert "\x1b[" not in piped.stderr and "[INFO] kubeinit" in piped.stderr


def test_every_option_has_a_header_default_named_after_it():
    body = render_script()
    for row in describe():
        assert re.search(rf"^{row['name'].upper()}=", body, re.M), row["name"]
        assert flag(row["name"]) in body
