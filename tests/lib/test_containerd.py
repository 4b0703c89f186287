"""templates/lib/containerd.sh.j2, run end to end in the debootstrapped root: which containerd a host gets,
which it keeps, which it refuses, and what config.toml keeps of what was there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.scripts.test_install import QUERY, in_order, machine
from tests.support import render_script
from tests.support.ci import need_tool

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

CONFIG = "/etc/containerd/config.toml"


def toml_tables(text: str) -> dict[str, dict[str, str]]:
    """{table: {key: raw value}} of the flat TOML containerd prints ('' for the top level)."""
    tables: dict[str, dict[str, str]] = {"": {}}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
            tables.setdefault(current, {})
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            tables[current][key.strip()] = value.strip()
    return tables
# A containerd 2.x config someone else changed: an NVIDIA runtime (nvidia-ctk runtime configure adds one like
# it), a tuned snapshotter, and the sandbox image and cgroup driver kubeinit owns, set otherwise.
USER_CONFIG_2 = """\
version = 3
root = '/var/lib/containerd'
disabled_plugins = ['io.containerd.internal.v1.tracing', 'cri']

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'native'

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.8'

  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia]
        runtime_type = 'io.containerd.runc.v2'

        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia.options]
          BinaryName = '/usr/bin/nvidia-container-runtime'
          SystemdCgroup = false

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
"""


def test_a_fresh_debian_host_gets_docker_containerd_io_at_the_pinned_version(tmp_path: Path) -> None:
    host = machine(tmp_path)
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert "apt-get install -y -q --no-install-recommends containerd.io=2.2.6-*" in host.commands()
    assert not [c for c in host.commands() if c.startswith("apt-get") and c.endswith(" containerd")]  # never Debian's 1.6
    assert "containerd 2.2.6" in result.stderr
    assert "containerd.io 2.2.6-1~debian.12~bookworm" in host.read("/var/lib/kubeinit-stubs/packages")
    assert any(c.endswith("https://download.docker.com/linux/debian/gpg") for c in host.commands())


def test_a_pinned_version_the_repository_lacks_stops_with_apts_error(tmp_path: Path) -> None:
    from app.settings import get_settings

    host = machine(tmp_path)
    script = render_script(**QUERY)
    assert get_settings().containerd_version == "2.2.6" and "\nCONTAINERD_VERSION=2.2.6\n" in script
    script = script.replace("\nCONTAINERD_VERSION=2.2.6\n", "\nCONTAINERD_VERSION=2.9.0\n")  # a deploy pinning 2.9.0
    result = host.run(script)
    assert result.returncode == 100
    assert "E: Version '2.9.0-*' for 'containerd.io' was not found" in result.stderr
    assert not host.exists(CONFIG)


def test_docker_ce_containerd_io_is_kept_never_replaced(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "2.1.5-1~debian.12~bookworm"})
    host.write("/etc/apt/sources.list.d/docker.sources", "Types: deb\nURIs: https://download.docker.com/linux/debian\n"
               "Suites: bookworm\nComponents: stable\nSigned-By: /etc/apt/keyrings/docker.asc\n")
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert "containerd.io 2.1.5-1~debian.12~bookworm: installed, kept" in result.stderr
    assert not [c for c in host.commands() if "containerd" in c and c.startswith("apt-get")]
    assert not host.exists("/etc/apt/sources.list.d/docker.list")  # Docker's own source is left alone


def test_docker_ce_with_containerd_1_7_is_refused_for_kubernetes_1_36_before_any_change(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "1.7.27-1"})
    result = host.run(render_script(**QUERY))
    assert result.returncode == 1
    assert ("preflight FAIL:    containerd: 1.7.27 (containerd.io 1.7.27-1) cannot run Kubernetes 1.36, which needs "
            "containerd 2.0.0 or later -> upgrade Docker's package: apt-get install containerd.io=2.2.6-* (Docker keeps "
            "working), then run again") in result.stderr
    assert host.changes() == {}
    forced = host.run(render_script(**QUERY), "force")  # the user's call: the containerd stays as it is
    assert forced.returncode == 0, forced.stderr
    assert "containerd.io 1.7.27-1: installed, kept" in forced.stderr


def test_containerd_1_7_runs_kubernetes_1_35_with_a_warning(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "1.7.27-1"})
    result = host.run(render_script(**{**QUERY, "kubernetes_version": "1.35"}))
    assert result.returncode == 0, result.stderr
    assert ("preflight warning: containerd: 1.7.27 (containerd.io 1.7.27-1): Kubernetes 1.35 is the last release "
            "that runs on containerd 1.x -> upgrade Docker's package") in result.stderr
    config = host.read(CONFIG)  # containerd 1.x's layout, its own keys
    assert 'sandbox_image = "registry.k8s.io/pause:3.10.1"' in config
    assert 'config_path = "/etc/containerd/certs.d"' in config and "SystemdCgroup = true" in config
    # the real containerd 1.6 (Debian 12's) reads the file back: it parses, and the keys sit where it looks
    written = tmp_path / "config.toml"
    written.write_text(config)
    dump = subprocess.run([need_tool("containerd", "apt-get install containerd"), "--config", str(written), "config", "dump"],
                          capture_output=True, text=True, check=False)
    assert dump.returncode == 0, dump.stderr
    tables = toml_tables(dump.stdout)
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    assert tables[f"{cri}.containerd.runtimes.runc.options"]["SystemdCgroup"] == "true"
    assert tables[cri]["sandbox_image"] == '"registry.k8s.io/pause:3.10.1"'
    assert tables[f"{cri}.registry"]["config_path"] == '"/etc/containerd/certs.d"'
    assert tables[""]["disabled_plugins"] == "[]"  # the CRI plugin runs


def _dump(binary: Path, text: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """TEXT as the real containerd BINARY reads it: 'config dump' of it as the file given with --config."""
    written = tmp_path / "read-back.toml"
    written.write_text(text)
    dump = subprocess.run([str(binary), "--config", str(written), "config", "dump"], capture_output=True, text=True,
                          check=False)
    assert dump.returncode == 0, dump.stderr
    return toml_tables(dump.stdout)


@pytest.mark.parametrize(("suite", "package", "kubernetes", "start"), [
    ("trixie", "1.7.27-1", "1.35", None),  # the 1.7 layout from 1.7's own default
    ("sid", "2.2.6-1~debian.12~bookworm", "1.36", None),  # the version 3 layout from 2.x's default
    ("sid", "2.2.6-1~debian.12~bookworm", "1.36", "containerd-2.1-config-default.toml"),  # a host's real 2.1 file
], ids=["1.7", "2.x", "2.x-host-file"])
def test_the_written_config_is_read_back_by_a_real_containerd_of_its_layout(tmp_path: Path, suite, package,
                                                                            kubernetes, start) -> None:
    """Debian 13's containerd 1.7 and Debian unstable's 2.x (tests/support/debian_binaries.py) parse what the
    installer wrote, with kubeinit's keys where they look: the runc cgroup driver, the pause image, the registry
    hosts directory (a real 2.1 default's config_path '' filled in too), and the CRI plugin enabled."""
    from tests.support.debian_binaries import debian_binary
    from tests.support.rootfs import fixture

    binary, _ = debian_binary(suite, "containerd", "usr/bin/containerd")
    host = machine(tmp_path, packages={"containerd.io": package})
    if start:
        host.write(CONFIG, fixture(start))
    result = host.run(render_script(**{**QUERY, "kubernetes_version": kubernetes}))
    assert result.returncode == 0, result.stderr
    tables = _dump(binary, host.read(CONFIG), tmp_path)
    if package.startswith("1."):
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        assert tables[f"{cri}.containerd.runtimes.runc.options"]["SystemdCgroup"] == "true"
        assert tables[cri]["sandbox_image"] == '"registry.k8s.io/pause:3.10.1"'
        assert tables[f"{cri}.registry"]["config_path"] == '"/etc/containerd/certs.d"'
    else:
        images, runtime = "plugins.'io.containerd.cri.v1.images'", "plugins.'io.containerd.cri.v1.runtime'"
        assert tables[f"{runtime}.containerd.runtimes.runc.options"]["SystemdCgroup"] == "true"
        assert tables[f"{images}.pinned_images"]["sandbox"] == "'registry.k8s.io/pause:3.10.1'"
        assert tables[f"{images}.registry"]["config_path"] == "'/etc/containerd/certs.d'"
    assert "cri" not in tables[""].get("disabled_plugins", "[]")  # the CRI plugin runs


def test_the_distributions_containerd_1_6_is_refused_with_the_remedy(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd": "1.6.20~ds1-1+b1"})
    result = host.run(render_script(**QUERY))
    assert result.returncode == 1
    assert "containerd: 1.6.20 (containerd 1.6.20~ds1-1+b1) cannot run Kubernetes 1.36" in result.stderr
    assert ("remove Debian GNU/Linux 12 (bookworm)'s own containerd (see first what goes with it: apt-get -s remove "
            "containerd), then run again: kubeinit installs containerd.io 2.2.6") in result.stderr
    assert host.changes() == {}


def test_the_containerd_io_default_config_is_replaced_and_kept_as_a_backup(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "2.2.6-1~debian.12~bookworm"})
    stock = '#   Copyright 2018-2022 Docker Inc.\n\ndisabled_plugins = ["cri"]\n'  # what containerd.io ships
    host.write(CONFIG, stock)
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    config = host.read(CONFIG)
    assert config.startswith("version = 3\n") and "disabled_plugins = []" in config
    assert host.read(CONFIG + ".before-kubeinit") == stock


def test_a_users_config_keeps_everything_but_the_keys_kubeinit_owns(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "2.2.6-1~debian.12~bookworm"})
    host.write(CONFIG, USER_CONFIG_2)
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    config = host.read(CONFIG)
    assert "disabled_plugins = ['io.containerd.internal.v1.tracing']" in config  # the cri plugin is on again
    assert "snapshotter = 'native'" in config
    assert "BinaryName = '/usr/bin/nvidia-container-runtime'" in config  # the GPU runtime stays, as it was
    nvidia = config.split("runtimes.nvidia.options]")[1].split("[")[0]
    assert "SystemdCgroup = false" in nvidia
    assert "      sandbox = 'registry.k8s.io/pause:3.10.1'\n" in config and "pause:3.8" not in config
    runc = config.split("[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]")[1]
    assert "runtime_type = 'io.containerd.runc.v2'" in runc
    options = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n  SystemdCgroup = true\n"
    assert config.endswith("\n" + options + "\n[plugins.'io.containerd.cri.v1.images'.registry]\n"
                           "  config_path = '/etc/containerd/certs.d'\n")
    assert host.read(CONFIG + ".before-kubeinit") == USER_CONFIG_2
    assert "systemctl restart containerd" not in host.commands()  # it was not running yet
    before = host.snapshot()
    again = host.run(render_script(**QUERY))
    assert again.returncode == 0, again.stderr
    assert host.snapshot() == before and f"unchanged: {CONFIG}" in again.stderr


@pytest.mark.parametrize(("package", "kubernetes", "expected"), [
    ("1.7.27-1", "1.35", 'config_path = "/etc/containerd/certs.d"'),  # 1.x's default: empty, filled
    ("2.0.7-1~debian.12~bookworm", "1.36", "config_path = '/etc/containerd/certs.d'"),
    ("2.1.5-1~debian.12~bookworm", "1.36", "config_path = '/etc/containerd/certs.d'"),
    ("2.2.6-1~debian.12~bookworm", "1.36", "config_path = '/etc/containerd/certs.d'"),
])
def test_containerds_default_config_path_becomes_the_certs_d_kubeinit_writes(tmp_path: Path, package, kubernetes,
                                                                             expected) -> None:
    """containerd 2.x's default, '/etc/containerd/certs.d:/etc/docker/certs.d', is one directory to the transfer
    service that pulls for the CRI from 2.1 (containerd#12415): the mirrors' hosts.toml would be ignored."""
    host = machine(tmp_path, packages={"containerd.io": package})
    result = host.run(render_script(**{**QUERY, "kubernetes_version": kubernetes}))
    assert result.returncode == 0, result.stderr
    config = host.read(CONFIG)
    assert expected in config and "/etc/docker/certs.d" not in config
    assert "registry config_path" not in result.stderr  # no warning: it is kubeinit's


def test_an_operators_registry_config_path_stays_with_a_warning(tmp_path: Path) -> None:
    host = machine(tmp_path, packages={"containerd.io": "2.2.6-1~debian.12~bookworm"})
    host.write(CONFIG, "version = 3\n\n[plugins.\"io.containerd.cri.v1.images\".registry]\n"
                       "  config_path = \"/etc/registries.d\"\n")
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    config = host.read(CONFIG)
    assert 'config_path = "/etc/registries.d"' in config
    assert config.count(".registry]") == 1  # one table, though written with the other quotes
    assert ("the registry config_path is '/etc/registries.d', kept as set: containerd 2.1 and later read hosts.toml "
            "from one directory only, so the registry mirrors under /etc/containerd/certs.d are not used") in result.stderr


def test_the_pause_image_comes_through_the_services_mirror(tmp_path: Path, monkeypatch) -> None:
    from tests.support import reload_settings

    monkeypatch.setenv("KUBEINIT_IMAGE_REGISTRY_MIRRORS", '{"registry.k8s.io": "mirror.example.com/k8s"}')
    reload_settings()
    try:
        script = render_script("scripts/kubernetes-node-join.sh.j2", **QUERY)
    finally:
        monkeypatch.delenv("KUBEINIT_IMAGE_REGISTRY_MIRRORS")
        reload_settings()
    host = machine(tmp_path)
    token, ca_hash = "abcdef.0123456789abcdef", "sha256:" + "ab" * 32
    result = host.run(script, "api-server=10.0.0.1", f"token={token}", f"ca-cert-hash={ca_hash}")
    assert result.returncode == 0, result.stderr
    assert ("kubeadm config images list --kubernetes-version v1.36.3 --image-repository mirror.example.com/k8s"
            in host.commands())
    assert "sandbox = 'mirror.example.com/k8s/pause:3.10.1'" in host.read(CONFIG)


def test_a_crictl_yaml_someone_wrote_stays(tmp_path: Path) -> None:
    host = machine(tmp_path)
    host.write("/etc/crictl.yaml", "runtime-endpoint: unix:///run/crio/crio.sock\n")
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert host.read("/etc/crictl.yaml") == "runtime-endpoint: unix:///run/crio/crio.sock\n"
    assert "/etc/crictl.yaml: kept as it is (not kubeinit's)" in result.stderr


def test_dry_run_on_a_fresh_host_says_what_it_would_install_and_configure(tmp_path: Path) -> None:
    host = machine(tmp_path)
    result = host.run(render_script(**QUERY), "dry-run")
    assert result.returncode == 0, result.stderr
    assert "'apt-get' 'install' '-y' '-q' '--no-install-recommends' 'containerd.io=2.2.6-*'" in result.stdout
    assert "+ write /etc/containerd/config.toml: containerd config default, with SystemdCgroup = true" in result.stdout
    assert in_order(result.stdout.splitlines(), ["+ write /etc/apt/sources.list.d/docker.list",
                                                 "+ 'env' 'DEBIAN_FRONTEND=noninteractive' 'apt-get' 'update'"]) == []
    assert host.changes() == {}


def test_a_docker_repository_already_configured_is_used_as_it_is(tmp_path: Path) -> None:
    host = machine(tmp_path)
    sources = ("Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: bookworm\nComponents: stable\n"
               "Signed-By: /etc/apt/keyrings/docker.asc\n")  # as Docker's install guide writes it
    host.write("/etc/apt/sources.list.d/docker.sources", sources)
    result = host.run(render_script(**QUERY))
    assert result.returncode == 0, result.stderr
    assert "Docker's repository: configured already" in result.stderr
    # a second entry with another keyring would make apt refuse both ("Conflicting values set for option Signed-By")
    assert not host.exists("/etc/apt/sources.list.d/docker.list") and not host.exists("/etc/apt/keyrings/docker.gpg")
    assert "apt-get install -y -q --no-install-recommends containerd.io=2.2.6-*" in host.commands()
    assert host.read("/etc/apt/sources.list.d/docker.sources") == sources
    reset = host.run(render_script(**QUERY), "reset", "yes")
    assert reset.returncode == 0, reset.stderr
    assert host.read("/etc/apt/sources.list.d/docker.sources") == sources  # not kubeinit's: reset leaves it
