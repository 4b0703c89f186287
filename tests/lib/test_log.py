"""lib/log: the install log on the host (issue #12 item 12): every real install or reset appends to
/var/log/kubeinit/SCRIPT.log (dir 0700, file 0600) a header (date, script, action), the script's
URL and settings, each step's start and outcome, and the run's stderr; secrets never. The end of
each run names the log, on failure too. dry-run, help and preflight write no log.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import render_script, run_bash, with_body
from tests.support.rootfs import DEFAULT_BEHAVIOUR, TOKEN_GENERATED, Machine


LOG = "/var/log/kubeinit/kubernetes-init.log"
JOIN_LOG = "/var/log/kubeinit/kubernetes-node-join.log"
TOKEN = "abcdef.0123456789abcdef"  # what the kubeadm stub's token create (a re-run's join command) carries
SECRET = TOKEN.split(".")[1]
FIRST_SECRET = TOKEN_GENERATED.split(".")[1]  # a first run's one token: kubeadm token generate, given to init
STEPS = ["preflight_run", "host_prepare", "firewall_open", "kube_install", "containerd_install", "airgap_images",
         "kubeadm_install", "network_apply", "join_print"]


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_an_install_appends_a_log_with_header_settings_steps_and_no_secret(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    script = render_script(pod_cidr="10.244.0.0/16")
    result = host.run(script)
    assert result.returncode == 0, result.stderr
    assert TOKEN_GENERATED in result.stdout  # the join command is for the user's eyes, on stdout
    log = host.read(LOG)
    assert log is not None
    assert host.path("/var/log/kubeinit").stat().st_mode & 0o777 == 0o700
    assert host.path(LOG).stat().st_mode & 0o777 == 0o600
    lines = log.splitlines()
    assert re.fullmatch(r"\S+ ==== \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: kubernetes-init install", lines[0])
    assert "installer from http://kubeinit.test:8000/kubernetes-init?pod_cidr=10.244.0.0/16" in log
    assert "[INFO] settings: encrypt-network=1 " in log and "pod-cidr=10.244.0.0/16" in log
    for step in STEPS:
        assert log.index(f"step {step}: start") < log.index(f"step {step}: ok")
    assert "[INFO] wrote /etc/containerd/config.toml" in log  # the run's stderr
    assert lines[-2].endswith("==== ok")
    assert result.stderr.rstrip().endswith(f"[INFO] the log of this run: {LOG}")
    assert FIRST_SECRET not in log
    again = host.run(script)
    assert again.returncode == 0, again.stderr
    assert host.read(LOG).startswith(log) and host.read(LOG).count("==== ok") == 2  # appended
    assert TOKEN in again.stdout and SECRET not in host.read(LOG)


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_failed_step_is_named_in_the_log_and_at_the_end(tmp_path: Path) -> None:
    failing = ('case " $* " in *" install "*) echo "E: Unable to locate package kubelet" >&2; exit 100 ;; esac\n'
               + DEFAULT_BEHAVIOUR["apt-get"])
    host = Machine(tmp_path, behaviour={"apt-get": failing})
    result = host.run(render_script())
    assert result.returncode == 100
    log = host.read(LOG)
    assert "E: Unable to locate package kubelet" in log  # a command's own stderr
    assert "step kube_install: failed" in log and "==== failed (exit 100) in step kube_install" in log
    assert "step kube_install: ok" not in log
    assert "the run stopped in step kube_install: fix the cause (above), then run the same command again" in result.stderr
    assert result.stderr.rstrip().endswith(f"[INFO] the log of this run: {LOG}")


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_the_join_log_keeps_no_token_even_from_a_tool_that_prints_it(tmp_path: Path) -> None:
    # kubeadm join, failing, echoing the token of its JoinConfiguration to stderr as a verbose tool might
    kubeadm = ('[ "$1" != join ] || { echo "kubeadm join: couldn\'t validate the identity of the API Server with $(grep -ho \'[a-z0-9]\\{6\\}\\.[a-z0-9]\\{16\\}\' "$3")" >&2; exit 1; }\n'
               + DEFAULT_BEHAVIOUR["kubeadm"])
    host = Machine(tmp_path, behaviour={"kubeadm": kubeadm})
    ca_hash = "sha256:" + "ab" * 32
    result = host.run(render_script("scripts/kubernetes-node-join.sh.j2"), "api-server=10.0.0.1:6443",
                      f"token={TOKEN}", f"ca-cert-hash={ca_hash}")
    assert result.returncode == 1
    assert TOKEN in result.stderr  # the terminal shows what the tool said
    log = host.read(JOIN_LOG)
    assert "couldn't validate the identity of the API Server" in log
    assert SECRET not in log and "abcdef.<redacted>" in log
    assert "step join_run: failed" in log


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
@pytest.mark.parametrize("words", [("dry-run",), ("help",), ("preflight",)], ids=["dry-run", "help", "preflight"])
def test_dry_run_help_and_preflight_write_no_log(tmp_path: Path, words: tuple[str, ...]) -> None:
    host = Machine(tmp_path)
    result = host.run(render_script(), *words)
    assert result.returncode == 0, result.stderr
    assert not host.exists("/var/log/kubeinit")
    assert "the log of this run" not in result.stderr


def redact(line: str) -> str:
    script = render_script()
    script = with_body(script, 'log_redact "$LINE"; printf "%s\\n" "$log_redacted"')
    result = run_bash(script, env={"LINE": line})
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


@pytest.mark.parametrize("line, expected", [
    (f"kubeadm join 10.0.0.5:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:{'ab' * 32}",
     f"kubeadm join 10.0.0.5:6443 --token abcdef.<redacted> --discovery-token-ca-cert-hash sha256:{'ab' * 32}"),
    (f"--certificate-key {'0f' * 32}", "--certificate-key <redacted>"),
    (f'weave-passwd: "{"1a" * 32}"', 'weave-passwd: "<redacted>"'),
    ("E: Failed to fetch http://proxyuser:s3cret@proxy.corp:3128/x", "E: Failed to fetch http://<redacted>@proxy.corp:3128/x"),
    ("\x1b[31m[ERROR]\x1b[0m plain", "[ERROR] plain"),
    ("[INFO] nothing secret: 10.32.0.0/12 abcdef", "[INFO] nothing secret: 10.32.0.0/12 abcdef"),
], ids=["bootstrap-token", "certificate-key", "weave-password", "proxy-credentials", "colours", "plain"])
def test_log_redact_masks_secrets_and_keeps_the_rest(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.mark.rootfs
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")
def test_a_log_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    host = Machine(tmp_path)
    host.write("/var/log/kubeinit", "a file where the log directory would go\n")
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert f"[WARN] cannot write {LOG}: this run is not logged" in result.stderr
    assert "To add a worker to this cluster" in result.stdout
