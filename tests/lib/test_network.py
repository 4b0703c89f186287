"""The network part of the installer, run as root in the isolated Debian root (tests/support/rootfs.py),
against a stubbed kubectl that keeps the cluster state a real API server would (the secret, the
applied manifests, the kubelet-config ConfigMap) and answers `weave status` with real output."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.support import weave_samples as samples
from tests.support.network import container, env_of
from tests.support import render_script, with_body
from tests.support.rootfs import only_preflight_reads

pytestmark = [pytest.mark.rootfs, pytest.mark.skipif(os.geteuid() != 0, reason="needs root (unshare, chroot)")]

KUBE = "/var/lib/kubeinit-stubs/kube"  # the stubbed cluster's state, inside the root
# kubectl: the calls the network part makes, answered from KUBE; anything else falls through to
# the harness's default kubectl behaviour (appended below).
NETWORK_KUBECTL = f"""K={KUBE}; mkdir -p $K
npc_pods() {{ {{ cat $K/nodes 2>/dev/null || echo node1; }} | awk '{{split("x7k2p q4m8d z9r3t w2n6b", s); print "weave-net-" s[NR], $1}}'; }}
case "$*" in
  *"get secret weave-passwd"*) [ ! -e $K/secret ] || echo secret/weave-passwd; exit 0 ;;
  *"create -f -"*)
    grep -q '^kind: Secret' "$stdin_file" || exit 0
    if [ -e $K/secret ]; then echo 'Error from server (AlreadyExists): secrets "weave-passwd" already exists' >&2; exit 1; fi
    touch $K/secret; echo secret/weave-passwd created; exit 0 ;;
  *"apply -f -"*)
    if grep -q '^  name: weave-net' "$stdin_file"; then cp "$stdin_file" $K/weave.yaml; fi
    if grep -q '^  name: node-local-dns' "$stdin_file"; then cp "$stdin_file" $K/nodelocaldns.yaml; fi
    if grep -q '^  name: kubelet-config' "$stdin_file"; then sed '1,/^  kubelet: |/d; s/^    //' "$stdin_file" >$K/kubelet-config; fi
    # the connectivity check's pods (their nodes) and its NetworkPolicy (deny-all, or allowing the test pods): kept until their delete
    if grep -q '^kind: Pod' "$stdin_file"; then sed -n 's/^  nodeName: "\\(.*\\)"$/\\1/p' "$stdin_file" >$K/pods; fi
    if grep -q '^kind: NetworkPolicy' "$stdin_file"; then grep -q '^    - from:' "$stdin_file" && echo allow >$K/policy || echo deny >$K/policy; fi
    exit 0 ;;
  *"delete pod,service,networkpolicy"*) rm -f $K/policy; exit 0 ;;
  *"get daemonset weave-net"*IPALLOC_RANGE*)
    # the jsonpath weave_live asks for, answered from the applied manifest: "IMAGE|RANGE|PASSWORD|MTU"
    [ -e $K/weave.yaml ] || exit 0
    img=$(sed -n "s/^ *image: '\\(.*weave-kube:.*\\)'/\\1/p" $K/weave.yaml | sed -n 2p)
    range=$(awk '/name: IPALLOC_RANGE/ {{getline; gsub(/.*value: "|"/, ""); print; exit}}' $K/weave.yaml)
    pw=$(grep -o 'name: WEAVE_PASSWORD' $K/weave.yaml | sed 's/name: //')
    mtu=$(awk '/name: WEAVE_MTU/ {{getline; gsub(/.*value: "|"/, ""); print; exit}}' $K/weave.yaml)
    printf '%s|%s|%s|%s' "$img" "$range" "$pw" "$mtu"; exit 0 ;;
  *"configmap kubeadm-config"*) [ ! -e /etc/kubeinit/kubeadm.yaml ] || sed -n '/^kind: ClusterConfiguration/,/^---/p' /etc/kubeinit/kubeadm.yaml; exit 0 ;;
  *"get nodes"*InternalIP*) cat $K/nodes 2>/dev/null || echo "node1 10.0.0.5 6.1.0-27-amd64"; exit 0 ;;
  *"get nodes"*unschedulable*) awk '{{print $1 " "}}' $K/nodes 2>/dev/null || echo "node1 "; exit 0 ;;
  *"get pods -l app=kubeinit-net-test"*)  # the test pods as applied, 10.32.0.5 onwards (agnhost netexec)
    awk '{{print "kubeinit-net-" NR-1 " " $1 " 10.32.0." NR+4}}' $K/pods; exit 0 ;;
  *"get networkpolicy"*) exit 0 ;;  # none of the namespace's own
  *"get service kubeinit-net-test"*) printf 10.96.0.77; exit 0 ;;
  *"exec kubeinit-net-"*"10.96.0.77:8080/hostname"*) printf kubeinit-net-0; exit 0 ;;
  *"exec kubeinit-net-"*"/hostname"*)  # /hostname answers the pod's name, unless the pair is in $K/blocked or
    # weave-npc on the pod's node drops it: under the deny-all policy unless that node is in $K/npc-off (bridged
    # traffic skips iptables there), under the allowing one if it is in $K/npc-drops (weave-npc's ingress chain on
    # each node: rajch/weave npc/controller.go)
    ip=${{*##*//}}; ip=${{ip%%:*}}; from=${{*#*exec }}; from=${{from%% *}}
    node=$(sed -n "$((${{ip##*.}} - 4))p" $K/pods)
    case $(cat $K/policy 2>/dev/null) in
      deny) grep -qx "$node" $K/npc-off 2>/dev/null || drop=1 ;;
      allow) ! grep -qx "$node" $K/npc-drops 2>/dev/null || drop=1 ;;
    esac
    ! grep -qx "$from $ip" $K/blocked 2>/dev/null || drop=1
    m=$(printf '%s\n' "$@" | grep -A1 -x -- -m | tail -n1)
    if [ -n "${{drop:-}}" ]; then echo "curl: (28) Connection timed out after ${{m}}001 milliseconds"; echo "command terminated with exit code 28" >&2; exit 28; fi
    printf 'kubeinit-net-%s' $((${{ip##*.}} - 5)); exit 0 ;;
  *"exec kubeinit-net-"*"/echo?msg="*) printf "%s" "${{*##*msg=}}"; exit 0 ;;
  *"exec kubeinit-net-"*nslookup*169.254.20.10*) sed 's/10\\.96\\.0\\.10/169.254.20.10/' $K/nslookup; exit 0 ;;  # asked of the cache
  *"exec kubeinit-net-"*nslookup*) cat $K/nslookup; exit 0 ;;
  *"get daemonset node-local-dns"*"-o name"*) [ ! -e $K/nodelocaldns.yaml ] || echo daemonset.apps/node-local-dns; exit 0 ;;
  *"get daemonset node-local-dns"*) [ ! -e $K/nodelocaldns.yaml ] || echo "1 1"; exit 0 ;;
  *"configmap kube-proxy"*) printf 'kind: KubeProxyConfiguration\\nmode: "%s"\\n' "$(cat $K/proxy-mode 2>/dev/null)"; exit 0 ;;
  *"configmap kubelet-config"*) cat $K/kubelet-config; exit 0 ;;
  *"service kube-dns"*) echo 10.96.0.10; exit 0 ;;
  *"rollout status"*) echo "daemon set successfully rolled out"; exit 0 ;;
  # weave-npc's container status per node, as kubectl's jsonpath prints it (a missing field as nothing:
  # cli-runtime jsonpath_flags.go AllowMissingKeys): $K/npc.NODE holds "RESTARTS WAITING-REASON LAST-REASON
  # LAST-EXIT" when a test gives one; otherwise it runs and never restarted.
  *"get pods -l name=weave-net"*weave-npc*) npc_pods | while read -r pod n; do
      restarts=0 waiting='' reason='' code=''; [ ! -e $K/npc.$n ] || read -r restarts waiting reason code <$K/npc.$n
      printf '%s|%s|%s|%s|%s|%s\n' "$pod" "$n" "$restarts" "$waiting" "$reason" "$code"; done; exit 0 ;;
  # logs --previous of a container that never terminated: the kubelet's error (pkg/kubelet/kubelet_pods.go
  # validateContainerLogStatus) as kubectl prints an API error, exit 1; $K/npc-previous.log its last run's lines.
  *"logs weave-net-"*"-c weave-npc"*--previous*) pod=${{*#* logs }}; pod=${{pod%% *}}; n=$(npc_pods | awk -v p="$pod" '$1 == p {{print $2}}')
    if [ -s $K/npc.$n ] && [ "$(cut -d' ' -f1 $K/npc.$n)" != 0 ]; then tail -n 20 $K/npc-previous.log; exit 0; fi
    echo "Error from server (BadRequest): previous terminated container \"weave-npc\" in pod \"$pod\" not found" >&2; exit 1 ;;
  *"logs weave-net-"*"-c weave-npc"*) tail -n 20 $K/npc.log 2>/dev/null; exit 0 ;;
  *"get pods -l name=weave-net"*) echo "weave-net-x7k2p node1"; exit 0 ;;
  *"get pods -l k8s-app=node-local-dns"*) echo "node-local-dns-4xq9z   1/1     Running   0          2m"; exit 0 ;;
  *"logs weave-net-"*"-c weave"*) cat $K/weave.log 2>/dev/null; exit 0 ;;  # Weave's log, when a test gives one
  *"--local status connections"*) cat $K/connections; exit 0 ;;
  *"--local status"*) cat $K/status; exit 0 ;;
esac
"""
# kubeadm's KubeletConfiguration, abridged (the kubelet-config ConfigMap and /var/lib/kubelet/config.yaml).
KUBELET_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
"""
# nslookup in the dnsutils image, as in kubernetes.io "Debugging DNS Resolution".
NSLOOKUP = """\
Server:\t\t10.96.0.10
Address:\t10.96.0.10#53

Name:\tkubernetes.default.svc.cluster.local
Address: 10.96.0.1
"""


@pytest.fixture
def machine(tmp_path: Path):
    from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

    m = Machine(tmp_path, behaviour={"kubectl": NETWORK_KUBECTL + DEFAULT_BEHAVIOUR["kubectl"]})
    m.write(f"{KUBE}/status", samples.ENCRYPTED_STATUS)
    m.write(f"{KUBE}/connections", samples.SINGLE_HOST)
    m.write(f"{KUBE}/kubelet-config", KUBELET_CONFIG)
    m.write(f"{KUBE}/nslookup", NSLOOKUP)
    m.write("/var/lib/kubelet/config.yaml", KUBELET_CONFIG)
    return m


def applied(machine, kind: str, name: str) -> list[tuple[int, dict]]:
    """(call index, object) for each object of KIND/NAME sent to kubectl on stdin, in call order."""
    found = []
    for index, call in enumerate(machine.calls()):
        if call[0] == "kubectl" and "-f" in call:
            for doc in yaml.safe_load_all(machine.stubs.stdin(index)):
                if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
                    found.append((index, doc))
    return found


def secret_creations(machine) -> list[int]:
    return [i for i, call in enumerate(machine.calls()) if call[:2] == ["kubectl", "create"]]


def test_encryption_on_creates_the_secret_once_and_never_shows_the_password(machine) -> None:
    script = render_script()
    first = machine.run(script)
    assert first.returncode == 0, first.stderr
    [(index, secret)] = applied(machine, "Secret", "weave-passwd")
    password = secret["stringData"]["weave-passwd"]
    assert re.fullmatch(r"[0-9a-f]{64}", password)  # 256 bits from /dev/urandom
    [(ds_index, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert index < ds_index  # the secret exists before any weave pod looks for it
    assert env_of(daemonset, "weave")["WEAVE_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}

    second = machine.run(script)
    assert second.returncode == 0, second.stderr
    assert secret_creations(machine) == [index]  # not created, let alone rotated, again
    assert "Secret kube-system/weave-passwd exists: keeping its password" in second.stderr
    assert len(applied(machine, "DaemonSet", "weave-net")) == 2

    log = (machine.stubs.log).read_text()
    assert password not in log  # no argv of any command
    for run in (first, second):
        assert password not in run.stdout + run.stderr
    assert password not in script
    for path in machine.changes():  # nor any file the runs left (the stub's stdin record aside)
        content = machine.read(path)
        assert content is None or password not in content, path


def test_encryption_off_has_no_secret_and_no_password_and_switching_on_warns(machine) -> None:
    off = machine.run(render_script(), "encrypt-network=0")
    assert off.returncode == 0, off.stderr
    assert secret_creations(machine) == []
    assert not any("secret" in " ".join(call) for call in machine.calls())
    [(_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert "WEAVE_PASSWORD" not in env_of(daemonset, "weave")
    assert "encryption disabled" in off.stderr

    # issue #13 defect 3: a re-run that does not name encrypt-network keeps what the cluster runs
    kept = machine.run(render_script())  # the default is encrypted, but not named
    assert kept.returncode == 0, kept.stderr
    assert "Weave Net encryption: keeping it off as the cluster runs it (encrypt-network not given" in kept.stderr
    assert secret_creations(machine) == []
    assert "WEAVE_PASSWORD" not in env_of(applied(machine, "DaemonSet", "weave-net")[-1][1], "weave")

    on = machine.run(render_script(), "encrypt-network=1")  # named: the change is made, and explained
    assert on.returncode == 0, on.stderr
    assert "Weave Net runs UNENCRYPTED on this cluster and this run turns encryption ON." in on.stderr
    assert "Peers must agree" in on.stderr
    assert len(secret_creations(machine)) == 1
    assert "runs ENCRYPTED" not in machine.run(render_script()).stderr  # agreed now: no warning


def test_the_post_install_summary_on_a_single_host(machine) -> None:
    result = machine.run(render_script())
    assert result.returncode == 0, result.stderr
    commands = machine.commands()
    control_plane = next(i for i, c in enumerate(commands) if c.startswith("kubeadm init"))
    weave = commands.index("kubectl apply -f -")
    assert control_plane < weave  # the network comes once the control plane is up
    # then the join command (with the token kubeadm init was given: no second token, #12 item 12)
    assert result.stdout.index("No peers yet") < result.stdout.index("To add a worker")
    rollout = commands.index("kubectl -n kube-system rollout status daemonset/weave-net --timeout=300s")
    status = commands.index("kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status")
    assert rollout < status
    assert "kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status connections" in commands
    assert "Weave Net encryption: enabled" in result.stdout
    assert "No peers yet: this is the only Weave Net host." in result.stdout
    assert "reports it disabled" not in result.stderr


def test_the_summary_warns_when_weave_runs_unencrypted_against_the_settings(machine) -> None:
    machine.write(f"{KUBE}/status", samples.DOCS_STATUS)  # "Encryption: disabled"
    result = machine.run(render_script())
    assert result.returncode == 0, result.stderr
    assert "this run enabled encryption but pod weave-net-x7k2p reports it disabled" in result.stderr
    assert "reports it disabled" not in machine.run(render_script(), "encrypt-network=0").stderr


def nodelocal(machine) -> dict:
    [*_, (_, configmap)] = applied(machine, "ConfigMap", "node-local-dns")
    [*_, (_, daemonset)] = applied(machine, "DaemonSet", "node-local-dns")
    return {"corefile": configmap["data"]["Corefile"], "args": container(daemonset, "node-cache")["args"]}


def test_iptables_mode_substitutes_the_kube_dns_address_and_leaves_the_kubelet_alone(machine) -> None:
    machine.write(f"{KUBE}/proxy-mode", "iptables")
    result = machine.run(render_script(nodelocal_dnscache="1"))
    assert result.returncode == 0, result.stderr
    dns = nodelocal(machine)
    assert dns["args"][:2] == ["-localip", "169.254.20.10,10.96.0.10"]
    assert "bind 169.254.20.10 10.96.0.10" in dns["corefile"]
    assert "cluster.local:53 {" in dns["corefile"]
    assert "forward . __PILLAR__CLUSTER__DNS__ {" in dns["corefile"]  # node-cache fills it in
    assert "forward . __PILLAR__UPSTREAM__SERVERS__" in dns["corefile"]
    assert machine.read("/var/lib/kubelet/config.yaml") == KUBELET_CONFIG
    assert machine.read(f"{KUBE}/kubelet-config") == KUBELET_CONFIG
    assert "systemctl restart kubelet" not in machine.commands()
    assert "kube-proxy mode iptables, kube-dns 10.96.0.10" in result.stderr


def test_ipvs_mode_points_the_kubelets_at_the_cache_once_and_reset_reverts_it(machine) -> None:
    machine.write(f"{KUBE}/proxy-mode", "ipvs")
    script = render_script()  # kube-proxy-mode=iptables by default: the cluster's answer wins
    result = machine.run(script, "nodelocal-dnscache")
    assert result.returncode == 0, result.stderr
    dns = nodelocal(machine)
    assert dns["args"][:2] == ["-localip", "169.254.20.10"]
    assert "forward . 10.96.0.10 {" in dns["corefile"]
    assert "__PILLAR__DNS__SERVER__" not in dns["corefile"] and "__PILLAR__CLUSTER__DNS__" not in dns["corefile"]
    pointed = KUBELET_CONFIG.replace("- 10.96.0.10", "- 169.254.20.10")
    assert machine.read(f"{KUBE}/kubelet-config") == pointed  # joining hosts inherit it
    assert machine.read("/var/lib/kubelet/config.yaml") == pointed
    commands = machine.commands()
    assert commands.count("systemctl restart kubelet") == 1
    # Only once the cache answers: pods created meanwhile would otherwise get a dead resolver.
    assert commands.index("kubectl -n kube-system rollout status daemonset/node-local-dns --timeout=300s") < \
        commands.index("systemctl restart kubelet")

    again = machine.run(script, "nodelocal-dnscache")
    assert again.returncode == 0, again.stderr
    assert machine.commands().count("systemctl restart kubelet") == 1  # nothing left to change
    assert len(applied(machine, "ConfigMap", "kubelet-config")) == 1


def test_nftables_mode_runs_the_cache_on_the_link_local_address_and_switches_after_rollout(machine) -> None:
    # node-cache's iptables rules do not take the kube-dns address over from kube-proxy's nftables
    # DNAT (kubernetes/dns#682): as in ipvs mode, only the link-local address, and clusterDNS after.
    machine.write(f"{KUBE}/proxy-mode", "nftables")
    result = machine.run(render_script(kube_proxy_mode="nftables", nodelocal_dnscache="1"))
    assert result.returncode == 0, result.stderr
    assert nodelocal(machine)["args"][:2] == ["-localip", "169.254.20.10"]
    assert machine.read("/var/lib/kubelet/config.yaml") == KUBELET_CONFIG.replace("- 10.96.0.10", "- 169.254.20.10")
    commands = machine.commands()
    assert commands.index("kubectl -n kube-system rollout status daemonset/node-local-dns --timeout=300s") < \
        commands.index("systemctl restart kubelet")


ROLLOUT_OK = r"""  *"rollout status"*) echo "daemon set successfully rolled out"; exit 0 ;;"""
ROLLOUT_CACHE_FAILS = r"""  *"rollout status"*node-local-dns*) echo 'error: timed out waiting for the condition' >&2; exit 1 ;;
  *"get pods -l k8s-app=node-local-dns"*jsonpath*) echo "node-local-dns-4xq9z|node1|Running|node-cache=false/CrashLoopBackOff,"; exit 0 ;;
""" + ROLLOUT_OK


def test_a_failed_cache_rollout_leaves_the_kubelets_on_kube_dns(tmp_path: Path) -> None:
    # issue #13 defect 4: init pointed every kubelet at the cache; a cache that never came up left
    # pods without DNS. Now init writes kube-dns, and the switch waits for a ready cache.
    from tests.support.rootfs import DEFAULT_BEHAVIOUR, Machine

    assert ROLLOUT_OK in NETWORK_KUBECTL
    failing = NETWORK_KUBECTL.replace(ROLLOUT_OK, ROLLOUT_CACHE_FAILS)
    m = Machine(tmp_path, behaviour={"kubectl": failing + DEFAULT_BEHAVIOUR["kubectl"]})
    m.write(f"{KUBE}/status", samples.ENCRYPTED_STATUS)
    m.write(f"{KUBE}/connections", samples.SINGLE_HOST)
    m.write(f"{KUBE}/proxy-mode", "ipvs")
    result = m.run(render_script(kube_proxy_mode="ipvs", nodelocal_dnscache="1"))
    assert result.returncode != 0
    assert "the kubelets keep kube-dns (10.96.0.10): they are pointed at the cache only once it is ready" in result.stderr
    assert "node-local-dns is not rolled out after 300s (1 node(s)); still rolling:" in result.stderr
    assert "pod node-local-dns-4xq9z on node1: Running, containers node-cache=false/CrashLoopBackOff" in result.stderr
    assert '- "10.96.0.10"' in m.read("/etc/kubeinit/kubeadm.yaml")  # clusterDNS at init
    assert not any(c.startswith("systemctl restart kubelet") for c in m.commands())


def test_nodelocal_dnscache_on_a_re_run_adds_the_cache_and_keeps_the_rest(machine) -> None:
    script = render_script()
    assert machine.run(script).returncode == 0
    [(_, before)] = applied(machine, "DaemonSet", "weave-net")
    files = machine.snapshot()
    calls = len(machine.calls())
    result = machine.run(script, "nodelocal-dnscache")
    assert result.returncode == 0, result.stderr
    changed = {p for p, d in machine.snapshot().items() if files.get(p) != d and not p.startswith(KUBE)}
    assert changed == set()  # no host file: iptables mode leaves the kubelet alone
    assert not any(c.startswith(("kubeadm init", "apt-get install", "systemctl restart"))
                   for c in machine.commands()[calls:])
    assert len(applied(machine, "DaemonSet", "node-local-dns")) == 1
    [_, (_, after)] = applied(machine, "DaemonSet", "weave-net")
    assert after == before  # the same Weave manifest: kubectl apply leaves it unchanged
    assert len(secret_creations(machine)) == 1


MIXED = samples.ENCRYPTED_FASTDP + samples.ENCRYPTED_SLEEVE + samples.DOCS_CONNECTIONS.splitlines(keepends=True)[3]


@pytest.mark.parametrize("how", ["route", "action"])
def test_troubleshoot_runs_the_two_weave_commands_and_explains_them(machine, how: str) -> None:
    machine.write(f"{KUBE}/connections", MIXED + samples.SLEEVE_MTU)
    machine.write(f"{KUBE}/weave.log", samples.SLEEVE_MTU_LOG)
    machine.write(f"{KUBE}/nodes", "node1 10.3.87.46 6.1.0-27-amd64\nnode2 192.168.48.15 6.1.0-27-amd64\n"
                  "node3 10.20.30.40 6.1.0-27-amd64\n")
    machine.write(f"{KUBE}/nodelocaldns.yaml", "deployed\n")
    if how == "route":
        result = machine.run(render_script("scripts/kubernetes-troubleshoot.sh.j2"))
    else:
        result = machine.run(render_script(), "troubleshoot")
    assert result.returncode == 1, result.stderr  # a sleeve and a failed peer: problems found
    out = result.stdout
    assert "$ kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status\n" in out
    assert "$ kubectl -n kube-system exec weave-net-x7k2p -c weave -- /home/weave/weave --local status connections\n" in out
    assert "Established connections: 5 (encrypted 4, fastdp 3, sleeve 2)" in out
    assert "    INFO: 2016/11/09 14:30:25.979501 sleeve ->[10.20.30.40:6783|56:4b:3a:ef:b6:c2(docker-elements-1.novalocal)]: " \
        "Effective MTU verified at 1438\n" in out  # Weave's own words about the sleeve link
    assert "  10.91.141.84:40536 (x01badaapp41a.vsi.uat.dbs.com)\n" in out
    assert "192.168.48.15:6783 failed: dial tcp4 192.168.48.15:6783: no route to host" in out
    assert "Ready on 1 of 1 nodes." in out
    for node in ("node1", "node2"):
        assert f"{node}: DNS resolves kubernetes.default.svc.cluster.local through 169.254.20.10 (NodeLocal DNSCache)" in out
    assert "  node1 -> node2: ok\n" in out and "  node3 -> node1: ok\n" in out
    assert "1 of 4 checks found problems" in out
    exec_calls = [c for c in machine.calls() if c[:4] == ["kubectl", "-n", "kube-system", "exec"]]
    assert [c[-1] for c in exec_calls] == ["status", "connections"] * 1
    # It changes nothing but its own test pods and Service, removed afterwards.
    created = [(o["kind"], o["metadata"]["name"]) for i, c in enumerate(machine.calls()) if c[:2] == ["kubectl", "apply"]
               for o in yaml.safe_load_all(machine.stubs.stdin(i)) if o]
    assert created == [("Pod", "kubeinit-net-0"), ("Pod", "kubeinit-net-1"), ("Pod", "kubeinit-net-2"),
                       ("Service", "kubeinit-net-test"), ("NetworkPolicy", "kubeinit-net-test"),
                       ("NetworkPolicy", "kubeinit-net-test")]
    assert machine.commands()[-2:] == [
        "kubectl -n default delete pod,service,networkpolicy -l app=kubeinit-net-test --ignore-not-found --wait=false",
        "kubectl -n default delete service kubeinit-net-test --ignore-not-found --wait=false"]
    assert not any(c[:2] == ["kubectl", "create"] for c in machine.calls())


def test_a_three_node_report_names_the_broken_pair_the_unencrypted_connection_and_the_unenforced_policy(machine) -> None:
    """troubleshoot on three nodes whose stubs break one thing of each kind: node1 -> node3 loses its packets, one
    peer connects in clear although this peer has the password, and weave-npc on node2 enforces no policy."""
    machine.write(f"{KUBE}/nodes", "node1 10.51.34.220 6.1.0-27-amd64\nnode2 10.51.34.221 6.1.0-27-amd64\n"
                  "node3 10.51.34.223 6.1.0-27-amd64\n")
    machine.write(f"{KUBE}/status", samples.ENCRYPTED_STATUS)
    machine.write(f"{KUBE}/connections", samples.ENCRYPTED_FASTDP + samples.UNENCRYPTED_SLEEVE.splitlines(keepends=True)[0])
    machine.write(f"{KUBE}/blocked", "kubeinit-net-0 10.32.0.7\n")
    machine.write(f"{KUBE}/npc-off", "node2\n")
    script = with_body(render_script("scripts/kubernetes-troubleshoot.sh.j2"), '_net_policy_tries=2\nmain "$@"')
    result = machine.run(script)
    assert result.returncode == 1
    out = result.stdout
    for a in ("node1", "node2", "node3"):  # every pair, both ways
        for b in ("node1", "node2", "node3"):
            if a != b and (a, b) != ("node1", "node3"):
                assert f"  {a} -> {b}: ok\n" in out
    assert "  node1 -> node3 (10.32.0.7): FAILED, no answer (curl: (28) Connection timed out after 5001 milliseconds)" in out
    assert "  10.51.34.223:6783 (host1010051034223): sleeve, NOT encrypted\n" in out  # every connection listed
    assert "Unencrypted connections: 1\n  10.51.34.223:6783 (host1010051034223)\n" in out
    assert "  node2: NOT ENFORCED: its test pod still answered node3 behind a deny-all ingress policy" in out
    assert "  node1: enforced (deny-all stopped node2, the allow policy let it through)\n" in out
    assert "  node3: not tested: node1 -> node3 gets no answer without a policy (above)\n" in out
    assert not machine.exists(f"{KUBE}/policy")  # the policy went with the pods, after the failures too
    assert "2 of 4 checks found problems" in out


def test_troubleshoot_names_a_crash_looping_weave_npc_with_its_last_log_lines(machine) -> None:
    machine.write(f"{KUBE}/nodes", "node1 10.3.87.46 6.1.0-27-amd64\nnode2 192.168.48.15 6.1.0-27-amd64\n"
                  "node3 10.20.30.40 6.1.0-27-amd64\n")
    machine.write(f"{KUBE}/connections", samples.ENCRYPTED_FASTDP)
    machine.write(f"{KUBE}/npc.node2", "7 CrashLoopBackOff Error 1\n")
    machine.write(f"{KUBE}/npc-previous.log", samples.NPC_CRASH_LOG)
    result = machine.run(render_script("scripts/kubernetes-troubleshoot.sh.j2"))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "node1: weave-npc running, never restarted\n" in out
    assert "node3: weave-npc running, never restarted\n" in out
    assert ("node2 (pod weave-net-q4m8d): weave-npc CrashLoopBackOff, restarted 7 times, "
            "its last run ended: Error (exit code 1)\n") in out
    assert "$ kubectl -n kube-system logs weave-net-q4m8d -c weave-npc --previous --tail=20\n" in out
    assert "".join("    " + line for line in samples.NPC_CRASH_LOG.splitlines(keepends=True)) in out
    assert "1 of 4 checks found problems" in out


def test_a_healthy_weave_npc_is_no_alarm_and_a_restarted_one_falls_back_to_its_current_log(machine) -> None:
    machine.write(f"{KUBE}/nodes", "node1 10.3.87.46 6.1.0-27-amd64\nnode2 192.168.48.15 6.1.0-27-amd64\n")
    script = render_script("scripts/kubernetes-troubleshoot.sh.j2")
    healthy = machine.run(with_body(script, '"$@"'), "troubleshoot_weave_npc")
    assert healthy.returncode == 0, healthy.stdout
    assert healthy.stdout == ("-- weave-npc (NetworkPolicy) on each node\n"
                              "node1: weave-npc running, never restarted\nnode2: weave-npc running, never restarted\n")
    # A container waiting that never terminated: kubectl logs --previous fails, its current lines are shown.
    machine.write(f"{KUBE}/npc.node1", "0 ContainerCreating\n")
    machine.write(f"{KUBE}/npc.log", "INFO: 2026/12/07 20:40:01.000000 Starting Weaveworks NPC 2.9.0; node name \"node1\"\n")
    waiting = machine.run(with_body(script, '"$@"'), "troubleshoot_weave_npc")
    assert waiting.returncode == 1
    assert "node1 (pod weave-net-x7k2p): weave-npc ContainerCreating, restarted 0 times\n" in waiting.stdout
    assert '    INFO: 2026/12/07 20:40:01.000000 Starting Weaveworks NPC 2.9.0; node name "node1"\n' in waiting.stdout


WEAVE_TRACES = ["/var/lib/weave/weave-netdata.db", "/etc/cni/net.d/10-weave.conflist", "/opt/cni/bin/weave-net",
                "/opt/cni/bin/weave-ipam", "/opt/cni/bin/weave-plugin-2.8.1"]


@pytest.mark.parametrize("template", ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2"])
def test_reset_removes_weaves_traces_so_a_reinstalled_host_starts_clean(machine, template: str) -> None:
    for path in WEAVE_TRACES:  # what weave-init and the weave container leave on a host
        machine.write(path, "x")
    result = machine.run(render_script(template), "reset", "yes")
    assert result.returncode == 0, result.stderr
    assert [path for path in WEAVE_TRACES if machine.exists(path)] == []


def test_troubleshoot_on_a_healthy_single_host_without_the_dns_cache(machine) -> None:
    result = machine.run(render_script("scripts/kubernetes-troubleshoot.sh.j2", cluster_domain="cluster.local"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No peers yet: this is the only Weave Net host." in result.stdout
    assert ("Not deployed: pods query CoreDNS directly. To add it: "
            "curl -sSL 'http://kubeinit.test:8000/kubernetes-init' | sudo bash -s nodelocal-dnscache") in result.stdout
    assert result.stdout.endswith("All 4 checks passed.\n")


@pytest.mark.parametrize("template", ["scripts/kubernetes-init.sh.j2", "scripts/kubernetes-node-join.sh.j2"])
def test_the_preflight_action_warns_about_a_firewall_that_forces_sleeve(machine, template: str) -> None:
    from tests.lib.test_weave_host import IPTABLES_DROPS

    machine.write("/usr/local/sbin/iptables-save", f"#!/bin/sh\ncat <<'EOF'\n{IPTABLES_DROPS}EOF\n", 0o755)
    result = machine.run(render_script(template), "preflight")
    assert result.returncode == 0, result.stderr
    assert "[WARN] preflight warning: weave ESP: local firewall rules drop IPSec ESP (IP protocol 50)" in result.stderr
    assert "[WARN] preflight warning: weave UDP: local firewall rules drop UDP 6783/6784" in result.stderr


def test_ipvs_mode_loads_and_persists_its_modules_and_is_called_deprecated(machine) -> None:
    result = machine.run(render_script(kube_proxy_mode="ipvs"))
    assert result.returncode == 0, result.stderr
    assert machine.read("/etc/modules-load.d/kubeinit.conf").splitlines()[1:] == [
        "overlay", "br_netfilter", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"]
    assert "modprobe ip_vs" in machine.commands()
    assert ("[WARN] preflight warning: kube-proxy mode: ipvs is deprecated from Kubernetes 1.35 (KEP-5495) and will be "
            "removed -> use kube-proxy-mode=nftables (GA since 1.33) or iptables") in result.stderr
    assert "ip_vs" not in (machine.run(render_script(), "dry-run").stdout)  # iptables mode: none of it


def test_a_re_run_keeps_the_pod_network_and_weave_version_unless_named(machine) -> None:
    # issue #13 defect 3: `bash -s nodelocal-dnscache` on the plain URL re-applied Weave with the
    # default pod network and version, splitting the hosts and downgrading Weave. The host's iptables is
    # legacy: Weave 2.8.1's own iptables 1.8.3 breaks an nf_tables host's rules, and preflight refuses it there.
    machine.prepare("update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy\n")
    first = machine.run(render_script(pod_cidr="10.244.0.0/16", weave_version="2.8.1"))
    assert first.returncode == 0, first.stderr
    again = machine.run(render_script(), "nodelocal-dnscache")  # neither named
    assert again.returncode == 0, again.stderr
    [*_, (_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert env_of(daemonset, "weave")["IPALLOC_RANGE"]["value"] == "10.244.0.0/16"
    assert container(daemonset, "weave")["image"] == "docker.io/weaveworks/weave-kube:2.8.1"
    assert "pod network: keeping the cluster's 10.244.0.0/16 (pod-cidr not given on this run)" in again.stderr
    assert "Weave Net: keeping the running 2.8.1 (docker.io/weaveworks; weave-version not given on this run)" in again.stderr

    daemonsets = len(applied(machine, "DaemonSet", "weave-net"))
    refused = machine.run(render_script(), "pod-cidr=10.32.0.0/12")  # named: refused, nothing applied
    assert refused.returncode == 1
    assert ("pod-cidr=10.32.0.0/12: this cluster's pod network is 10.244.0.0/16, and a running cluster cannot "
            "change it") in refused.stderr
    assert len(applied(machine, "DaemonSet", "weave-net")) == daemonsets

    upgrade = machine.run(render_script(), "weave-version=2.9.0")  # named: made, and explained
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Weave Net 2.8.1 -> 2.9.0: the weave-net pods are replaced one by one" in upgrade.stderr
    [*_, (_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert container(daemonset, "weave-npc")["image"] == "docker.io/rajchaudhuri/weave-npc:2.9.0"
    assert env_of(daemonset, "weave")["IPALLOC_RANGE"]["value"] == "10.244.0.0/16"


def iptables_says(machine, line: str) -> None:
    """The host's `iptables -V` (tests/support/fixtures/iptables-version.txt has each distribution's)."""
    machine.write("/usr/local/sbin/iptables", f"#!/bin/sh\n[ \"$1\" = -V ] && echo '{line}'\n", 0o755)


@pytest.mark.parametrize(("line", "backend"), [("iptables v1.8.9 (nf_tables)", "nft"), ("iptables v1.8.9 (legacy)", "legacy")],
                         ids=["nf_tables-host", "legacy-host"])
def test_the_install_tells_weave_the_hosts_iptables_backend(machine, line: str, backend: str) -> None:
    iptables_says(machine, line)
    result = machine.run(render_script())
    assert result.returncode == 0, result.stderr
    assert f"preflight pass:    iptables: 1.8.9 ({backend}): Weave runs with IPTABLES_BACKEND={backend}" in result.stderr
    [(_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert env_of(daemonset, "weave")["IPTABLES_BACKEND"]["value"] == backend
    assert env_of(daemonset, "weave-npc")["IPTABLES_BACKEND"]["value"] == backend


def test_weave_2_8_1_on_an_nf_tables_host_stops_before_any_change(machine) -> None:
    # issue #13 defect 1: 2.8.1's iptables 1.8.3 breaks the rules of iptables-nft 1.8.8+ hosts.
    iptables_says(machine, "iptables v1.8.9 (nf_tables)")
    refused = machine.run(render_script(weave_version="2.8.1"))
    assert refused.returncode == 1
    assert "preflight FAIL:    weave version: Weave Net 2.8.1 carries iptables 1.8.3" in refused.stderr
    # nothing installed, nothing written: preflight only read the package database and asked the firewalls
    assert only_preflight_reads(machine) and machine.changes() == {}
    forced = machine.run(render_script(weave_version="2.8.1"), "force")
    assert forced.returncode == 0, forced.stderr
    [(_, daemonset)] = applied(machine, "DaemonSet", "weave-net")
    assert container(daemonset, "weave")["image"] == "docker.io/weaveworks/weave-kube:2.8.1"


def test_weave_2_8_1_runs_on_a_legacy_host(machine) -> None:
    iptables_says(machine, "iptables v1.8.9 (legacy)")
    result = machine.run(render_script(weave_version="2.8.1"))
    assert result.returncode == 0, result.stderr
    assert "weave version" not in result.stderr
