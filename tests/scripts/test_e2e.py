"""End to end: a real uvicorn, fetched with real curl, piped to bash as users do."""

import subprocess


def curl_pipe_bash(url: str, *args: str) -> subprocess.CompletedProcess:
    """`curl -sSL URL | bash -s ARGS` as an unprivileged user, exactly as the README shows."""
    quoted = " ".join(f"'{a}'" for a in args)
    command = f"curl -sSL '{url}' | setpriv --reuid=65534 --regid=65534 --clear-groups bash -s {quoted}"
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "NO_COLOR": "1"})


def test_help_through_curl(live_server):
    result = curl_pipe_bash(f"{live_server}/kubernetes-init?nodelocal_dnscache=1", "help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "nodelocal-dnscache=BOOL  NodeLocal DNS cache (now: 1)" in result.stdout


def test_dry_run_with_a_flag_through_curl(live_server):
    result = curl_pipe_bash(f"{live_server}/kubernetes-init", "dry-run", "encrypt-network=0")
    assert result.returncode == 0, result.stderr
    assert f"installer from {live_server}/kubernetes-init" in result.stderr
    assert "settings: encrypt-network=0 " in result.stderr


def test_a_bad_query_stops_curl_pipe_bash_without_curl_f(live_server):
    result = curl_pipe_bash(f"{live_server}/kubernetes-init?encrypt_network=perhaps", "dry-run")
    assert result.returncode == 1
    assert "kubeinit: encrypt_network: 'perhaps' is not a boolean" in result.stderr
    assert "[INFO]" not in result.stderr
