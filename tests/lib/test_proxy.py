"""The HTTP proxy (templates/lib/proxy.sh.j2): the files the installer writes for apt, dnf and
containerd, NO_PROXY, the password kept out of URLs and logs, the preflight check, the join command
and reset; run end to end in the fake host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.params import PROXY_PASSWORD_REFUSED, PROXY_PASSWORD_USER, OptionError, parse_pairs
from tests.support import render_script

# The password as its file holds it (raw), and %-encoded as a URL's userinfo (RFC 3986 3.2.1).
PASSWORD = 's3cr@t:p%ss w"rd'
ENCODED = "s3cr%40t%3Ap%25ss%20w%22rd"
PASSWORD_FILE = "/root/proxy-password"
FLAGS = ("http-proxy=http://alice@proxy.example.com:3128", f"proxy-password-file={PASSWORD_FILE}")
# curl, asked for -w '%{http_connect} %{http_code}', prints both codes (curl(1) --write-out); this
# one records the proxy it was given in its environment (never in its arguments).
CURL_OK = """case "$*" in *"%{http_connect}"*) mkdir -p /var/lib/kubeinit-stubs; printf '%s' "${https_proxy:-none}" >/var/lib/kubeinit-stubs/curl-proxy; printf '200 200' ;;
*) out=/dev/stdout; prev=; for a in "$@"; do [ "$prev" = -o ] && out=$a; prev=$a; done; echo key >"$out" ;; esac"""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")


def machine(tmp_path: Path, password: str | None = PASSWORD, mode: int = 0o600, **kwargs):
    from tests.support.rootfs import Machine

    kwargs.setdefault("behaviour", {"curl": CURL_OK})
    host = Machine(tmp_path, **kwargs)
    if password is not None:
        host.write(PASSWORD_FILE, password + "\n", mode=mode)
    return host


def secrets_in(host, result) -> list[str]:
    """Where the password shows, raw or encoded: the stubs' arguments, the output, the install log."""
    places = [" ".join(c) for c in host.calls() if PASSWORD in " ".join(c) or ENCODED in " ".join(c)]
    logs = host.path("/var/log/kubeinit")
    for log in sorted(logs.glob("*")) if logs.is_dir() else []:
        places += [str(log)] if PASSWORD in log.read_text() or ENCODED in log.read_text() else []
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        places += [name] if PASSWORD in text or ENCODED in text else []
    return places


def test_the_query_refuses_a_proxy_password_and_bad_urls() -> None:
    for raw, reason in [
        ("http://alice:pw@proxy.example.com:3128", "carries a password"),
        ("http://alice:@proxy.example.com:3128", "carries a password"),
        ("http://al@ice:pw@proxy.example.com:3128", "carries a password"),
        ("http://proxy.example.com:3128\nAcquire::x", "is not a proxy URL"),
        ("http://al ice@proxy.example.com:3128", "is not a proxy URL"),
        ("ftp://proxy.example.com:21", "is not a proxy URL"),
        ("http://proxy.example.com", "is not a proxy URL"),  # the port must be named
    ]:
        with pytest.raises(OptionError) as error:
            parse_pairs([("http_proxy", raw)])
        assert error.value.problems[0][0] == "http_proxy" and reason in error.value.problems[0][1]
        assert "pw" not in str(error.value)
        if reason == "carries a password":
            assert "proxy-password-file=PATH" in str(error.value) and "chmod 600 PATH" in str(error.value)
    assert parse_pairs([("http_proxy", "http://alice@proxy.example.com:3128"),
                        ("proxy_password_file", PASSWORD_FILE)]).proxy_password_file == PASSWORD_FILE
    with pytest.raises(OptionError) as error:  # a password without its user
        parse_pairs([("http_proxy", "http://proxy.example.com:3128"), ("proxy_password_file", PASSWORD_FILE)])
    assert error.value.problems[0][0] == "proxy_password_file" and "http://USER@HOST:PORT" in error.value.problems[0][1]
    with pytest.raises(OptionError, match="no_proxy"):
        parse_pairs([("no_proxy", "a.example.com,$(reboot)")])


@pytest.mark.rootfs
@needs_root
def test_apt_containerd_and_the_join_command_get_the_proxy_and_the_password_stays_in_0600_files(tmp_path: Path) -> None:
    host = machine(tmp_path)
    result = host.run(render_script(pod_cidr="10.244.0.0/16"), *FLAGS, "no-proxy=.corp.example.com,10.1.0.0/16")
    assert result.returncode == 0, result.stderr
    url = f"http://alice:{ENCODED}@proxy.example.com:3128"
    assert host.read("/etc/apt/apt.conf.d/95kubeinit-proxy").splitlines()[1:] == [
        f'Acquire::http::Proxy "{url}";', f'Acquire::https::Proxy "{url}";']
    env = dict(line.split("=", 1) for line in host.read("/etc/kubeinit/proxy.env").splitlines() if "=" in line)
    assert env["HTTP_PROXY"] == env["HTTPS_PROXY"] == url
    no_proxy = env["NO_PROXY"].split(",")
    for item in ("localhost", "127.0.0.1", "10.0.0.5", "10.244.0.0/16", "10.96.0.0/12", ".svc", ".cluster.local",
                 ".corp.example.com", "10.1.0.0/16"):
        assert item in no_proxy
    assert "EnvironmentFile=/etc/kubeinit/proxy.env" in host.read("/etc/systemd/system/containerd.service.d/http-proxy.conf")
    for path in ("/etc/apt/apt.conf.d/95kubeinit-proxy", "/etc/kubeinit/proxy.env"):
        assert host.path(path).stat().st_mode & 0o777 == 0o600
    commands = host.commands()
    assert commands.index("systemctl daemon-reload") < commands.index("systemctl enable --now containerd")
    assert host.read("/var/lib/kubeinit-stubs/curl-proxy") == url  # preflight's curl, through its environment
    assert secrets_in(host, result) == []  # no argument, no output, no line of the install log
    assert host.path("/var/log/kubeinit").is_dir()
    assert "http-proxy=http://alice@proxy.example.com:3128" in result.stderr
    assert "preflight pass:    proxy: http://alice@proxy.example.com:3128 answers and reaches pkgs.k8s.io" in result.stderr
    join = next(line for line in result.stdout.splitlines() if "kubernetes-node-join" in line)
    assert "http_proxy=http://alice@proxy.example.com:3128" in join and "no_proxy=.corp.example.com,10.1.0.0/16" in join
    assert "proxy_password_file" not in join and PASSWORD_FILE not in join  # the joining host names its own
    assert "add proxy-password-file=PATH to the command" in result.stderr

    reset = host.run(render_script(), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    for path in ("/etc/apt/apt.conf.d/95kubeinit-proxy", "/etc/kubeinit/proxy.env",
                 "/etc/systemd/system/containerd.service.d/http-proxy.conf"):
        assert not host.exists(path), path


@pytest.mark.rootfs
@needs_root
def test_no_proxy_names_the_api_server_on_the_control_plane_and_on_a_joining_host(tmp_path: Path) -> None:
    # kubeadm join, kubectl and the readyz checks reach the API server directly, never via the proxy
    host = machine(tmp_path)
    result = host.run(render_script(), *FLAGS, "ha-vip=10.0.0.100", "control-plane-endpoint=10.0.0.100:6443")
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in host.read("/etc/kubeinit/proxy.env").splitlines() if "=" in line)
    assert "10.0.0.100" in env["NO_PROXY"].split(",")

    joining = machine(tmp_path / "join")
    join = joining.run(render_script("scripts/kubernetes-node-join.sh.j2"), *FLAGS, "api-server=api.example.com:6443",
                       "token=abcdef.0123456789abcdef", "ca-cert-hash=sha256:" + "ab" * 32)
    assert join.returncode == 0, join.stderr
    env = dict(line.split("=", 1) for line in joining.read("/etc/kubeinit/proxy.env").splitlines() if "=" in line)
    assert "api.example.com" in env["NO_PROXY"].split(",")


CONTROL_PLANE_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@pytest.mark.rootfs
@needs_root
def test_kubeadm_writes_no_proxy_and_no_password_into_the_control_planes_pods_on_init_and_upgrade(tmp_path: Path) -> None:
    # kubeadm copies every *_proxy variable of its environment into these static pods (GetProxyEnvVars,
    # modelled by the kubeadm stub): whoever may read pods in kube-system would read the password there.
    # Besides the installer's own, one the operator's environment brings (sudo -E) must stay out too.
    host = machine(tmp_path)
    inherited = {"ALL_PROXY": f"http://alice:{ENCODED}@proxy.example.com:3128"}

    def pods_without_a_proxy() -> None:
        for pod in CONTROL_PLANE_PODS:
            manifest = host.read(f"/etc/kubernetes/manifests/{pod}.yaml")
            assert f"name: {pod}" in manifest
            assert "proxy.example.com" not in manifest and "env:" not in manifest, manifest

    result = host.run(render_script(kubernetes_version="1.36"), *FLAGS, env=inherited)
    assert result.returncode == 0, result.stderr
    pods_without_a_proxy()
    assert host.read("/etc/kubeinit/proxy.env").count("proxy.example.com") == 2  # containerd keeps its proxy
    upgraded = host.run(render_script(kubernetes_version="1.37"), "upgrade", *FLAGS, env=inherited)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "kubeadm upgrade apply v1.37.3 --yes" in host.commands()
    pods_without_a_proxy()


@pytest.mark.rootfs
@needs_root
def test_no_proxy_names_ipv6_localhost_the_hosts_network_and_the_mirrors(tmp_path: Path) -> None:
    # the host's network (10.0.0.5/24 here): the other nodes and the API server's calls to their kubelets;
    # the mirrors: containerd would pull internal mirrors through the corporate proxy
    host = machine(tmp_path)
    result = host.run(render_script(), *FLAGS, "registry-mirror=docker.io=mirror.corp.example.com:5000/dockerhub,"
                      "registry.k8s.io=registry.internal.example.com")
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in host.read("/etc/kubeinit/proxy.env").splitlines() if "=" in line)
    no_proxy = env["NO_PROXY"].split(",")
    for item in ("::1", "10.0.0.0/24", "mirror.corp.example.com", "registry.internal.example.com"):
        assert item in no_proxy, item
    assert not [item for item in no_proxy if item.startswith("127.0.0.0")]  # loopback is 127.0.0.1 and localhost


@pytest.mark.rootfs
@needs_root
def test_dnf_gets_the_proxy_in_a_marked_block_of_dnf_conf_that_reset_removes(tmp_path: Path) -> None:
    host = machine(tmp_path, os_release="rocky9")
    original = "[main]\ngpgcheck=1\ninstallonly_limit=3\n"
    host.write("/etc/dnf/dnf.conf", original)
    result = host.run(render_script(), *FLAGS)
    assert result.returncode == 0, result.stderr
    conf = host.read("/etc/dnf/dnf.conf").splitlines()
    assert conf[0] == "[main]"
    assert conf[2:5] == ["proxy=http://proxy.example.com:3128", "proxy_username=alice", f"proxy_password={PASSWORD}"]
    assert conf[6:] == ["gpgcheck=1", "installonly_limit=3"]
    assert host.path("/etc/dnf/dnf.conf").stat().st_mode & 0o777 == 0o600
    assert secrets_in(host, result) == []
    again = host.run(render_script(), *FLAGS)  # a re-run writes the block once
    assert again.returncode == 0 and "unchanged: /etc/dnf/dnf.conf" in again.stderr
    reset = host.run(render_script(), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert host.read("/etc/dnf/dnf.conf") == original


@pytest.mark.rootfs
@needs_root
def test_dnf_gets_a_proxy_without_a_user_as_given(tmp_path: Path) -> None:
    # the URL holds no '@': dnf.conf's proxy= is the URL itself, not http://http://... (which dnf,
    # whose own proxy= wins over the environment, could not use for any repository)
    host = machine(tmp_path, password=None, os_release="rocky9")
    host.write("/etc/dnf/dnf.conf", "[main]\ngpgcheck=1\n")
    result = host.run(render_script(), "http-proxy=http://proxy.example.com:3128")
    assert result.returncode == 0, result.stderr
    conf = host.read("/etc/dnf/dnf.conf").splitlines()
    assert conf[2:4] == ["proxy=http://proxy.example.com:3128", "# kubeinit-proxy-end"]
    assert not any(line.startswith(("proxy_username=", "proxy_password=")) for line in conf)


@pytest.mark.rootfs
@needs_root
@pytest.mark.parametrize(("curl", "message"), [
    ('printf "000 000"; echo "curl: (7) Failed to connect to proxy.example.com port 3128" >&2; exit 7',
     "proxy: http://proxy.example.com:3128 does not answer"),
    ('printf "403 000"; echo "curl: (56) CONNECT tunnel failed, response 403" >&2; exit 56',
     "proxy: http://proxy.example.com:3128 refused to reach pkgs.k8s.io (CONNECT answered 403)"),
    ('printf "407 000"; exit 56', "proxy: http://proxy.example.com:3128 wants a user and password (407) -> give its user "
     "in http-proxy=http://USER@HOST:PORT and the password in proxy-password-file=PATH (chmod 600 PATH)"),
    ('printf "000 000"; exit 5', "proxy: cannot resolve the proxy host of http://proxy.example.com:3128"),
])
def test_preflight_names_what_fails_and_nothing_changes(tmp_path: Path, curl: str, message: str) -> None:
    host = machine(tmp_path, password=None, behaviour={"curl": curl})
    result = host.run(render_script(http_proxy="http://proxy.example.com:3128"))
    assert result.returncode == 1
    assert "preflight FAIL:    " + message in result.stderr
    assert host.changes() == {}


@pytest.mark.rootfs
@needs_root
@pytest.mark.parametrize("flag", [
    "http-proxy=http://proxy.example.com:3128\nAcquire::Evil \"1\";",
    "http-proxy=http://alice:hunter2@proxy.example.com:3128",
])
def test_a_proxy_flag_with_a_newline_or_a_password_is_refused_by_name_and_nothing_changes(tmp_path: Path, flag: str) -> None:
    host = machine(tmp_path, password=None)
    result = host.run(render_script(), flag)
    assert result.returncode == 1
    if "hunter2" in flag:  # the parser says what the option model says, and shows no password
        assert f"kubeinit: http-proxy: {PROXY_PASSWORD_REFUSED}" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout
    else:
        assert "kubeinit: http-proxy: 'http://proxy.example.com:3128" in result.stderr and "is not a proxy URL" in result.stderr
    assert host.changes() == {} and host.commands() == []


@pytest.mark.rootfs
@needs_root
@pytest.mark.parametrize(("mode", "content", "message"), [
    (0o640, PASSWORD, f"proxy-password-file: {PASSWORD_FILE} is open to other users (mode 640) -> chmod 600 {PASSWORD_FILE}"),
    (0o604, PASSWORD, f"proxy-password-file: {PASSWORD_FILE} is open to other users (mode 604) -> chmod 600 {PASSWORD_FILE}"),
    (0o600, "", f"proxy-password-file: {PASSWORD_FILE} is empty -> write the proxy password on its first line"),
    (None, None, f"proxy-password-file: {PASSWORD_FILE} does not exist -> write the proxy password on its first line, "
     f"then: chmod 600 {PASSWORD_FILE}"),
])
def test_a_password_file_open_to_others_empty_or_missing_is_refused_and_nothing_changes(
        tmp_path: Path, mode: int | None, content: str | None, message: str) -> None:
    host = machine(tmp_path, password=content, mode=mode or 0o600)
    result = host.run(render_script(), *FLAGS)
    assert result.returncode == 1
    assert "preflight FAIL:    " + message in result.stderr
    assert secrets_in(host, result) == []
    assert host.changes() == {}


@pytest.mark.rootfs
@needs_root
def test_without_the_option_nothing_is_written_for_a_proxy(tmp_path: Path) -> None:
    host = machine(tmp_path, password=None)
    result = host.run(render_script())
    assert result.returncode == 0, result.stderr
    assert not host.exists("/etc/apt/apt.conf.d/95kubeinit-proxy")
    assert not host.exists("/etc/systemd/system/containerd.service.d/http-proxy.conf")
    assert "systemctl daemon-reload" not in host.commands()


def test_a_proxy_given_twice_or_a_password_file_without_a_user_is_refused() -> None:
    from tests.support import run_bash

    result = run_bash(render_script(), *FLAGS, "http-proxy=http://bob@proxy.example.com:3128", "help", as_nobody=True)
    assert result.returncode == 1
    assert ("kubeinit: http-proxy: given twice with different values ('http://alice@proxy.example.com:3128' and "
            "'http://bob@proxy.example.com:3128')") in result.stderr
    result = run_bash(render_script(), "http-proxy=http://proxy.example.com:3128", FLAGS[1], "help", as_nobody=True)
    assert result.returncode == 1
    assert f"kubeinit: proxy-password-file: {PROXY_PASSWORD_USER}" in result.stderr


@pytest.mark.rootfs
@needs_root
@pytest.mark.parametrize("os_release", ["debian12", "rocky9"])
def test_a_dry_run_shows_the_proxy_files_with_the_password_masked(tmp_path: Path, os_release: str) -> None:
    host = machine(tmp_path, os_release=os_release)
    result = host.run(render_script(), *FLAGS, "dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ write /etc/kubeinit/proxy.env (mode 0600):" in result.stdout
    assert "HTTP_PROXY=http://alice:***@proxy.example.com:3128" in result.stdout
    assert secrets_in(host, result) == []
    assert [path for path in host.changes() if not path.startswith("/var/lib/kubeinit-stubs/")] == []  # the stubs' own notes


CA_FILE = "/root/corp-ca.pem"


def ca_pair(tmp_path: Path) -> tuple[str, str]:
    """A self-signed CA certificate and its key, PEM, made by the real openssl."""
    import subprocess

    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Corp Inspecting CA",
                    "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.crt")], check=True, capture_output=True)
    return (tmp_path / "ca.crt").read_text(), (tmp_path / "ca.key").read_text()


def body(pem: str) -> str:
    """The base64 lines of a PEM certificate, as they show in a concatenated bundle."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@pytest.mark.rootfs
@needs_root
def test_ca_bundle_goes_into_the_debian_trust_store_and_reset_takes_it_out(tmp_path: Path) -> None:
    # the real update-ca-certificates (Debian's ca-certificates) builds /etc/ssl/certs/ca-certificates.crt,
    # which curl, apt and containerd read; it takes only *.crt files under /usr/local/share/ca-certificates
    cert, _ = ca_pair(tmp_path)
    host = machine(tmp_path, password=None)
    host.write(CA_FILE, cert)
    result = host.run(render_script(), "http-proxy=http://proxy.example.com:3128", f"ca-bundle={CA_FILE}")
    assert result.returncode == 0, result.stderr
    assert "preflight pass:    ca-bundle: /root/corp-ca.pem" in result.stderr
    assert host.read("/usr/local/share/ca-certificates/kubeinit-ca-bundle.crt") == cert
    assert body(cert) in host.read("/etc/ssl/certs/ca-certificates.crt").replace("\n", "")
    again = host.run(render_script(), "http-proxy=http://proxy.example.com:3128", f"ca-bundle={CA_FILE}")
    assert again.returncode == 0 and "unchanged: /usr/local/share/ca-certificates/kubeinit-ca-bundle.crt" in again.stderr
    reset = host.run(render_script(), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert not host.exists("/usr/local/share/ca-certificates/kubeinit-ca-bundle.crt")
    assert body(cert) not in host.read("/etc/ssl/certs/ca-certificates.crt").replace("\n", "")


@pytest.mark.rootfs
@needs_root
def test_ca_bundle_goes_into_the_rhel_anchors_and_containerd_is_restarted(tmp_path: Path) -> None:
    cert, _ = ca_pair(tmp_path)
    host = machine(tmp_path, password=None, os_release="rocky9")
    host.write(CA_FILE, cert)
    result = host.run(render_script(), f"ca-bundle={CA_FILE}")
    assert result.returncode == 0, result.stderr
    assert host.read("/etc/pki/ca-trust/source/anchors/kubeinit-ca-bundle.pem") == cert
    assert cert in host.read("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem")
    assert "update-ca-trust extract" in host.commands()
    reset = host.run(render_script(), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert not host.exists("/etc/pki/ca-trust/source/anchors/kubeinit-ca-bundle.pem")
    assert cert not in (host.read("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem") or "")


@pytest.mark.rootfs
@needs_root
@pytest.mark.parametrize(("content", "message"), [
    ("key", f"ca-bundle: {CA_FILE} holds a private key: give the CA's certificates only"),
    ("text", f"ca-bundle: {CA_FILE} is not a PEM certificate file (no BEGIN/END CERTIFICATE block)"),
    ("broken", f"ca-bundle: {CA_FILE} is not a PEM certificate file (openssl x509 cannot read it)"),
    (None, f"ca-bundle: {CA_FILE} does not exist"),
])
def test_a_ca_bundle_that_is_no_pem_certificate_is_refused_and_nothing_changes(
        tmp_path: Path, content: str | None, message: str) -> None:
    cert, key = ca_pair(tmp_path)
    host = machine(tmp_path, password=None)
    files = {"key": cert + key, "text": "not a certificate\n",
             "broken": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
    if content:
        host.write(CA_FILE, files[content])
    result = host.run(render_script(), f"ca-bundle={CA_FILE}")
    assert result.returncode == 1
    assert "preflight FAIL:    " + message in result.stderr
    assert host.changes() == {}


@pytest.mark.rootfs
@needs_root
def test_preflight_names_ca_bundle_for_a_tls_failure_through_the_proxy(tmp_path: Path) -> None:
    host = machine(tmp_path, password=None, behaviour={
        "curl": 'printf "200 000"; echo "curl: (60) SSL certificate problem: self-signed certificate in certificate chain" >&2; exit 60'})
    result = host.run(render_script(http_proxy="http://proxy.example.com:3128"))
    assert result.returncode == 1
    assert "give it as ca-bundle=PATH (a PEM file)" in result.stderr
    assert host.changes() == {}
