"""The manifests the installer applies: every variant valid for every supported Kubernetes minor,
and object by object the upstream addons, with each allowed difference listed and explained."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from app.params import KUBERNETES_MINORS, WEAVE_DEFAULT, WEAVE_VERSIONS
from app.settings import get_settings
from tests.support.network import (UPSTREAM, WEAVE_ROUTER_NPC_RULES, by_key, container, env_of, fixture, manifests,
                                   no_cluster, real_network_tools, rooted, weave_npc_image)
from tests.support import render_script, run_bash

# (query options, bash -s flags): each axis value at least once, by query and by flag alike.
VARIANTS = [
    ({}, ()),
    ({"encrypt_network": "0"}, ()),
    ({}, ("encrypt-network=0",)),
    ({"weave_version": "2.9.0", "weave_mtu": "1400"}, ()),
    ({}, ("weave-mtu=8912", "weave-version=2.9.0")),
    ({"nodelocal_dnscache": "1"}, ()),
    ({"nodelocal_dnscache": "1", "kube_proxy_mode": "ipvs"}, ()),
    ({}, ("nodelocal-dnscache", "kube-proxy-mode=ipvs", "cluster-domain=corp.example", "service-cidr=172.16.0.0/16")),
    ({"encrypt_network": "0", "weave_version": "2.9.0", "nodelocal_dnscache": "1", "pod_cidr": "10.200.0.0/16"}, ()),
]
IDS = ["defaults", "encrypt-off-query", "encrypt-off-flag", "fork-mtu-query", "fork-mtu-flag", "nodelocal-iptables",
       "nodelocal-ipvs", "nodelocal-ipvs-flags", "all-off-fork-nodelocal"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    tmp = tmp_path_factory.mktemp("manifests")
    return {name: manifests(tmp, *flags, **query) for name, (query, flags) in zip(IDS, VARIANTS, strict=True)}


# Every combination of the settings that change a manifest (the mode only matters with the cache).
MATRIX = [
    (f"encrypt-network={encrypt}", f"weave-version={version}", *mtu, *cache)
    for encrypt in ("1", "0")
    for version in WEAVE_VERSIONS
    for mtu in ((), ("weave-mtu=1400",))
    for cache in ((), ("nodelocal-dnscache", "kube-proxy-mode=iptables"), ("nodelocal-dnscache", "kube-proxy-mode=ipvs"),
                  ("nodelocal-dnscache", "kube-proxy-mode=nftables"))
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[tuple[str, ...], list[dict]]:
    tmp = tmp_path_factory.mktemp("matrix")
    return {flags: manifests(tmp, *flags) for flags in MATRIX}


@pytest.mark.parametrize("minor", KUBERNETES_MINORS)
def test_every_variant_passes_strict_validation(matrix, rendered, minor: str) -> None:
    for name, objects in [*matrix.items(), *rendered.items()]:
        assert len(objects) == (11 if "nodelocal" in str(name) else 6), name
        for obj in objects:
            kubernetes_validate.validate(obj, minor, strict=True)  # raises ValidationError


def test_pod_cidr_checkpoint_images_and_mtu_reach_the_weave_container(rendered) -> None:
    settings = get_settings()
    for name, (query, flags) in zip(IDS, VARIANTS, strict=True):
        words = dict(f.split("=", 1) for f in flags if "=" in f)
        version = words.get("weave-version", query.get("weave_version", WEAVE_DEFAULT))
        mtu = words.get("weave-mtu", query.get("weave_mtu"))
        daemonset = by_key(rendered[name])["DaemonSet", "weave-net"]
        env = env_of(daemonset, "weave")
        assert env["IPALLOC_RANGE"]["value"] == query.get("pod_cidr", "10.32.0.0/12"), name
        assert env["CHECKPOINT_DISABLE"]["value"] == "1", name
        assert (env["WEAVE_MTU"]["value"] if "WEAVE_MTU" in env else None) == mtu, name
        repository = settings.weave_repositories[version]
        assert container(daemonset, "weave-init")["image"] == f"{repository}/weave-kube:{version}", name
        assert container(daemonset, "weave")["image"] == f"{repository}/weave-kube:{version}", name
        assert container(daemonset, "weave-npc")["image"] == f"{repository}/weave-npc:{version}", name


def test_encryption_on_takes_the_password_from_the_secret_and_off_has_none(rendered) -> None:
    for name, (query, flags) in zip(IDS, VARIANTS, strict=True):
        encrypted = query.get("encrypt_network") != "0" and "encrypt-network=0" not in flags
        objects = rendered[name]
        env = env_of(by_key(objects)["DaemonSet", "weave-net"], "weave")
        if encrypted:
            assert env["WEAVE_PASSWORD"] == {
                "name": "WEAVE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}
            }, name
        else:
            assert "WEAVE_PASSWORD" not in env, name
        assert "WEAVE_PASSWORD" not in env_of(by_key(objects)["DaemonSet", "weave-net"], "weave-npc")
        # The password itself is made on the host at install time: never in a manifest.
        assert not any(o["kind"] == "Secret" for o in objects), name


def test_manifests_needs_no_root_and_reads_the_mode_from_a_cluster_that_answers(tmp_path: Path) -> None:
    stub = Path(tempfile.mkdtemp(prefix="kubeinit-cluster-"))  # pytest's tmp is private to root
    stub.chmod(0o755)
    (stub / "kubectl").write_text("""#!/bin/sh
case "$*" in
  *"configmap kube-proxy"*) printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\\nkind: KubeProxyConfiguration\\nmode: "ipvs"\\n' ;;
  *"service kube-dns"*) echo 10.96.0.99 ;;
  *) exit 1 ;;
esac
""")
    (stub / "kubectl").chmod(0o755)
    script = render_script("scripts/kubernetes-init.sh.j2", nodelocal_dnscache="1")  # kube_proxy_mode: iptables
    result = run_bash(script, "manifests", env={"PATH": f"{stub}:/usr/bin:/bin"}, as_nobody=True)
    assert result.returncode == 0, result.stderr
    node_cache = container(by_key(list(yaml.safe_load_all(result.stdout)))["DaemonSet", "node-local-dns"], "node-cache")
    assert node_cache["args"][:2] == ["-localip", "169.254.20.10"]  # IPVS, as the cluster said
    assert "forward . 10.96.0.99 {" in result.stdout  # the cluster's kube-dns address
    fallback = run_bash(script, "manifests", env=no_cluster(stub), as_nobody=True)
    shutil.rmtree(stub)
    node_cache = container(by_key(list(yaml.safe_load_all(fallback.stdout)))["DaemonSet", "node-local-dns"], "node-cache")
    assert node_cache["args"][:2] == ["-localip", "169.254.20.10,10.96.0.10"]  # the option, and service-cidr's 10th


# ---------------------------------------------------------------------------------------------
# Object by object against the upstream objects in tests/manifests/upstream/ (their sources cited
# there; test_upstream_data.py holds them to ../shared/reference where present). Each allowed difference
# is undone below, on our side, before comparing; whatever else differs fails the test.
WEAVE_ALLOWED = {
    "List": "upstream ships one v1 List; we apply the same six objects as separate documents, so "
            "that kubectl and kubernetes-validate check each object (a List's items are not validated)",
    "image": "repository and tag come from settings.weave_repositories and weave_version (2.9.0 is the "
             "rajchaudhuri fork), written fully qualified (docker.io/...) because CRI-O and Podman "
             "refuse short names; the templates' :latest with imagePullPolicy Always becomes the release tag "
             "without it, as Weave's release process does (release-derived reference)",
    "IPALLOC_RANGE": "added to the weave container: the pod network must equal kubeadm's podSubnet (pod_cidr)",
    "CHECKPOINT_DISABLE": "added (=1) to 2.8.1: no phone-home version check from every node (the 2.9.0 template has it)",
    "IPTABLES_BACKEND": "added to both weave and weave-npc, set to the host's backend (iptables -V): both launch "
                        "scripts read it, and the fork's own detection misses (rajch/weave#15, #17; issue #13)",
    "weave-npc command": "weave-npc's command links iptables to the legacy tools on a legacy host, then runs the "
                         "image's launch.sh with the args: the fork's launch.sh links only to nft, its image "
                         "defaults to nft (rajch/weave v2.9.0 prog/weave-npc/launch.sh, reweave/build/Dockerfile)",
    "--log-level=info": "weave-npc's args: its default is debug (prog/weave-npc/main.go); kURL and "
                        "replicated-installer set info too",
    "WEAVE_MTU": "added only when weave_mtu is set",
    "WEAVE_PASSWORD": "added only with encryption on, from Secret weave-passwd (secretKeyRef), never a literal",
}
NODELOCAL_ALLOWED = {
    "image": "k8s-dns-node-cache 1.26.8 (settings.nodelocaldns_image) instead of the reference's 1.26.4: "
             "upstream master bumped the tag (kubernetes/kubernetes#138610); same args and flags",
    "pillars": "__PILLAR__ variables substituted as upstream's NodeLocal DNSCache documentation does with sed, "
               "per kube-proxy mode (the mapping is applied to the reference below)",
    "ipvs bind": "IPVS (and nftables) mode also removes ' __PILLAR__DNS__SERVER__' from the Corefile's bind lines, not only "
                 "',__PILLAR__DNS__SERVER__' from -localip: kube-ipvs0 holds the kube-dns address, node-cache "
                 "must not bind it, and no unsubstituted pillar is left for CoreDNS to parse",
}


def reference(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((UPSTREAM / name).read_text()) if d]


REFERENCES = {"2.8.1": "weave-2.8.1.template.yaml", "2.9.0": "weave-2.9.0.template.yaml"}
UPSTREAM_REPOSITORY = {"2.8.1": "weaveworks", "2.9.0": "rajchaudhuri"}


def weave_as_upstream(objects: list[dict], version: str, extra_env: set[str]) -> list[dict]:
    """Our Weave objects with WEAVE_ALLOWED undone, back to the upstream template of VERSION;
    asserts each added env var is the expected set."""
    undone = copy.deepcopy(objects)
    daemonset = by_key(undone)["DaemonSet", "weave-net"]
    spec = daemonset["spec"]["template"]["spec"]
    upstream_weave_env = {"2.8.1": 2, "2.9.0": 3}[version]  # INIT_CONTAINER, HOSTNAME (, CHECKPOINT_DISABLE)
    for c in spec["initContainers"] + spec["containers"]:
        repository, image = c["image"].rsplit("/", 1)
        assert repository == get_settings().weave_repositories[version]
        assert image.endswith(":" + version)
        c["image"] = f"{UPSTREAM_REPOSITORY[version]}/{image.rsplit(':', 1)[0]}:latest"
        c["imagePullPolicy"] = "Always"
        if c["name"] == "weave":
            names = [e["name"] for e in c["env"]]
            kept = [e for e in c["env"] if e["name"] in ("INIT_CONTAINER", "HOSTNAME") or
                    (e["name"] == "CHECKPOINT_DISABLE" and version == "2.9.0")]
            assert set(names) - {e["name"] for e in kept} == extra_env, WEAVE_ALLOWED
            assert len(kept) == upstream_weave_env
            c["env"] = kept
        if c["name"] == "weave-npc":
            assert c.pop("args") == ["--log-level=info"]
            command = c.pop("command")
            assert command[:2] == ["/bin/sh", "-c"] and command[2].endswith('exec /usr/bin/launch.sh "$@"\n')
            assert [e["name"] for e in c["env"]] == ["HOSTNAME", "IPTABLES_BACKEND"]
            c["env"] = c["env"][:1]
    return undone


@pytest.mark.parametrize(("query", "version", "extra"), [
    ({}, "2.9.0", {"IPALLOC_RANGE", "IPTABLES_BACKEND", "WEAVE_PASSWORD"}),
    ({"encrypt_network": "0", "weave_mtu": "1400"}, "2.9.0", {"IPALLOC_RANGE", "IPTABLES_BACKEND", "WEAVE_MTU"}),
    ({"weave_version": "2.8.1"}, "2.8.1", {"IPALLOC_RANGE", "CHECKPOINT_DISABLE", "IPTABLES_BACKEND", "WEAVE_PASSWORD"}),
], ids=["2.9.0-encrypted", "2.9.0-unencrypted-mtu", "2.8.1-encrypted"])
def test_weave_matches_the_upstream_addon_object_by_object(tmp_path: Path, query: dict, version: str, extra: set) -> None:
    ours = by_key(weave_as_upstream(manifests(tmp_path, **query), version, extra))
    upstream = by_key(reference(REFERENCES[version]))
    assert list(ours) == list(upstream)  # same kinds and names, in the same order
    for key, obj in upstream.items():
        assert ours[key] == obj, f"{key} differs beyond {sorted(WEAVE_ALLOWED)}"


def test_the_weave_template_reference_differs_from_the_release_only_by_the_release_edits() -> None:
    # The release-derived copy is "the template with :latest -> :2.8.1, imagePullPolicy dropped".
    template = reference("weave-2.8.1.template.yaml")
    for obj in template:
        for c in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []) + \
                obj.get("spec", {}).get("template", {}).get("spec", {}).get("initContainers", []):
            c["image"] = c["image"].replace(":latest", ":2.8.1")
            assert c.pop("imagePullPolicy") == "Always"
    assert template == reference("weave-2.8.1.release.yaml")


def nodelocal_reference(mode: str, local: str, domain: str, dns_ip: str) -> list[dict]:
    """Upstream's file with its documented substitutions for MODE (NODELOCAL_ALLOWED["pillars"])."""
    text = (UPSTREAM / "nodelocaldns.yaml").read_text()
    text = text.replace("__PILLAR__LOCAL__DNS__", local).replace("__PILLAR__DNS__DOMAIN__", domain)
    if mode != "iptables":  # ipvs and nftables: the link-local address only
        text = text.replace(",__PILLAR__DNS__SERVER__", "").replace(" __PILLAR__DNS__SERVER__", "")
        text = text.replace("__PILLAR__CLUSTER__DNS__", dns_ip)
    else:
        text = text.replace("__PILLAR__DNS__SERVER__", dns_ip)
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize(("mode", "flags", "local", "domain", "dns_ip"), [
    ("iptables", (), "169.254.20.10", "cluster.local", "10.96.0.10"),
    ("ipvs", ("kube-proxy-mode=ipvs", "nodelocal-address=169.254.25.10", "cluster-domain=corp.example",
              "service-cidr=172.16.0.0/16"), "169.254.25.10", "corp.example", "172.16.0.10"),
    ("nftables", ("kube-proxy-mode=nftables",), "169.254.20.10", "cluster.local", "10.96.0.10"),
])
def test_nodelocaldns_matches_upstream_object_by_object(tmp_path: Path, mode, flags, local, domain, dns_ip) -> None:
    objects = manifests(tmp_path, "nodelocal-dnscache", *flags)
    ours = [o for o in objects if o["metadata"]["name"] != "weave-net"]
    upstream = nodelocal_reference(mode, local, domain, dns_ip)
    # kube-dns-upstream comes before the DaemonSet whose -upstreamsvc names it, as upstream orders them.
    assert [(o["kind"], o["metadata"]["name"]) for o in ours] == [(o["kind"], o["metadata"]["name"]) for o in upstream]
    node_cache = container(by_key(ours)["DaemonSet", "node-local-dns"], "node-cache")
    assert node_cache["image"] == get_settings().nodelocaldns_image
    node_cache["image"] = container(by_key(upstream)["DaemonSet", "node-local-dns"], "node-cache")["image"]
    for theirs, mine in zip(upstream, ours, strict=True):
        assert mine == theirs, f"{mine['kind']}/{mine['metadata']['name']} differs beyond {sorted(NODELOCAL_ALLOWED)}"
    corefile = by_key(ours)["ConfigMap", "node-local-dns"]["data"]["Corefile"]
    assert "__PILLAR__UPSTREAM__SERVERS__" in corefile  # left to node-cache, in both modes
    assert ("__PILLAR__CLUSTER__DNS__" in corefile) == (mode == "iptables")
    assert "__PILLAR__DNS__SERVER__" not in corefile and "__PILLAR__LOCAL__DNS__" not in corefile


def test_a_bad_flag_prints_no_manifest(tmp_path: Path) -> None:
    result = run_bash(render_script(), "manifests", "weave-mtu=100", env=no_cluster(tmp_path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "weave-mtu: '100' is not a whole number from 576 to 9000" in result.stderr


def _npc_on_router(backend: str, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """In a private network namespace, the router's rules in the host's BACKEND (WEAVE_ROUTER_NPC_RULES), then the
    weave-npc container ARGV (in an image weave_npc_image modelled) with ENV; prints both backends' rulesets."""
    inner = (f'ipt() {{ iptables-{backend} -w "$@"; }}\n{WEAVE_ROUTER_NPC_RULES}"$@"\n'
             'echo "== legacy"; iptables-legacy-save; echo "== nft"; iptables-nft-save')
    return subprocess.run(["unshare", "--net", "sh", "-ec", inner, "sh", *argv], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}, timeout=60, check=False)


def _rules(saved: str) -> list[str]:
    """An iptables-save's lines without its timestamped comments and without empty tables."""
    lines = [line for line in saved.splitlines() if not line.startswith("#")]
    return lines if any(line.startswith(("-A", ":WEAVE")) for line in lines) else []


@pytest.mark.skipif(not real_network_tools(), reason="needs root, unshare, iptables and nft")
@pytest.mark.parametrize(("version_line", "backend", "other"), [
    ("iptables v1.8.9 (legacy)", "legacy", "nft"),
    ("iptables v1.8.9 (nf_tables)", "nft", "legacy"),
])
def test_weave_npc_writes_its_chains_with_the_host_backend(tmp_path: Path, version_line, backend, other) -> None:
    # The weave-npc container as the DaemonSet starts it (command, args, env), in the fork's image modelled by
    # weave_npc_image, with the real iptables in a private network namespace, after the router's rules: on a
    # legacy host its chains must land in the legacy tables, where the router's FORWARD rules jump (rajch/weave#24,
    # #20, #17), and the host's ruleset is then the recorded one (fixtures/weave-npc.iptables-save), on either backend.
    stub = tmp_path / "host"
    stub.mkdir()
    (stub / "iptables").write_text(f"#!/bin/sh\necho '{version_line}'\n")
    (stub / "iptables").chmod(0o755)
    env = no_cluster(tmp_path)
    env["PATH"] = f"{stub}:{env['PATH']}"
    result = run_bash(render_script("scripts/kubernetes-init.sh.j2"), "manifests", env=env)
    assert result.returncode == 0, result.stderr
    npc = container(by_key(list(yaml.safe_load_all(result.stdout)))["DaemonSet", "weave-net"], "weave-npc")
    npc_env = {e["name"]: e["value"] for e in npc["env"] if "value" in e}
    assert npc_env["IPTABLES_BACKEND"] == backend
    root = weave_npc_image(tmp_path / "image")
    entrypoint = npc.get("command", ["/usr/bin/launch.sh"])  # without a command: the image's ENTRYPOINT
    proc = _npc_on_router(backend, [rooted(word, root) for word in entrypoint + npc["args"]], npc_env)
    assert proc.returncode == 0, proc.stderr
    assert "weave-npc --log-level=info" in proc.stdout  # the args reach weave-npc
    saved = dict(part.split("\n", 1) for part in proc.stdout.split("== ")[1:])
    recorded = [line for line in fixture("weave-npc.iptables-save").splitlines() if not line.startswith("#")]
    assert _rules(saved[backend]) == recorded
    assert _rules(saved[other]) == []  # nothing of Weave's in the other backend
    # The image's own entry point with the same env, as the DaemonSet ran it before: on a legacy host weave-npc
    # wrote nft, and the router's FORWARD jump found an empty legacy WEAVE-NPC and fell through to its DROP.
    if backend == "legacy":
        fresh = weave_npc_image(tmp_path / "image-before")  # the run above relinked the first image's iptables
        before = _npc_on_router(backend, [rooted(w, fresh) for w in ["/usr/bin/launch.sh", *npc["args"]]], npc_env)
        assert before.returncode == 0, before.stderr
        old = dict(part.split("\n", 1) for part in before.stdout.split("== ")[1:])
        assert not [line for line in _rules(old["legacy"]) if line.startswith("-A WEAVE-NPC ")]
        assert "-A WEAVE-NPC -m state --state RELATED,ESTABLISHED -j ACCEPT" in _rules(old["nft"])
