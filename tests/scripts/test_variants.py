"""Every rendered variant of the installer, the join and the troubleshoot script passes bash -n and shellcheck.

apt or dnf, dry-run or not, install or reset are chosen on the host at run time: the rendered
text differs only by template and query options, so these variants cover them all.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import render_script

TEMPLATES = ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2", "scripts/kubernetes-troubleshoot.sh.j2",
             "scripts/kubernetes-airgap-bundle.sh.j2"]
QUERIES = [
    {},
    {"nodelocal_dnscache": "1", "kube_proxy_mode": "ipvs", "kubernetes_version": "1.35.4", "pod_cidr": "10.244.0.0/16",
     "service_cidr": "10.100.0.0/16", "cluster_domain": "corp.internal", "weave_mtu": "1400",
     "private_address": "10.1.2.3", "public_address": "k8s.example.com", "encrypt_network": "0",
     "firewall": "keep"},
    {"weave_version": "2.9.0", "weave_mtu": "8912"},
    {"ha_vip": "10.0.0.100", "control_plane_taint": "1"},
    {"weave_version": "2.8.1", "kube_proxy_mode": "nftables", "nodelocal_dnscache": "1", "nodelocal_address": "169.254.25.10"},
    {"http_proxy": "https://alice@proxy.example.com:8443", "proxy_password_file": "/root/proxy-password", "no_proxy": ".corp.example.com,10.1.0.0/16",
     "registry_mirror": "docker.io=mirror.example.com/hub,quay.io=localhost:5000", "registry_mirror_ca": "/etc/ssl/ca.pem",
     "airgap": "/root/kubeinit-airgap-1.37.3-debian-amd64.tar.gz"},
]


QUERY_IDS = ["defaults", "every-option", "weave-fork", "ha-vip", "upstream-2.8.1-nftables", "networks"]


@pytest.mark.parametrize("query", QUERIES, ids=QUERY_IDS)
@pytest.mark.parametrize("template", TEMPLATES)
def test_bash_n_and_shellcheck(template: str, query: dict[str, str]) -> None:
    script = render_script(template, **query)
    syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr
    lint = subprocess.run(["shellcheck", "-S", "warning", "-f", "json1", "-"], input=script, capture_output=True,
                          text=True, check=False)
    comments = json.loads(lint.stdout)["comments"]
    problems = [f"line {c['line']}: SC{c['code']} {c['message']}" for c in comments]
    assert problems == []

