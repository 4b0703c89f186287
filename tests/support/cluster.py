"""Day-two scenarios on the stubbed cluster (tests/support/rootfs.py): a control plane installed,
extra nodes as the cluster reports them, and what a run left in the stub log and on the host."""

from __future__ import annotations

from pathlib import Path

from tests.support import Run, render_script
from tests.support.rootfs import CA_HASH, CERTIFICATE_KEY, CLUSTER, TOKEN_GENERATED, UPLOADED_KEY, Machine

JOIN = "scripts/kubernetes-node-join.sh.j2"
TOKEN = "abcdef.0123456789abcdef"  # what the stubbed `kubeadm token create` makes
SECRETS = (TOKEN_GENERATED, TOKEN, CERTIFICATE_KEY, UPLOADED_KEY)


def in_order(commands: list[str], expected: list[str]) -> list[str]:
    """The expected prefixes not found in this order among the commands (empty: all found)."""
    rest = iter(commands)
    return [want for want in expected if not any(c.startswith(want) for c in rest)]


def control_plane(tmp_path: Path, version: str = "1.36", **query: str) -> tuple[Machine, Run]:
    """A host made a control plane by kubernetes-init (kubernetes_version=version)."""
    host = Machine(tmp_path / "cp")
    result = host.run(render_script(kubernetes_version=version, **query))
    assert result.returncode == 0, result.stderr
    return host, result


def add_nodes(host: Machine, *lines: str) -> None:
    """More nodes as the cluster reports them: "NAME ROLE READY KUBELET" (role worker or control-plane)."""
    current = host.read(f"{CLUSTER}/nodes") or ""
    host.write(f"{CLUSTER}/nodes", current + "".join(line + "\n" for line in lines))


def join_flags(*extra: str, api: str = "10.0.0.5:6443") -> tuple[str, ...]:
    return (f"api-server={api}", f"token={TOKEN_GENERATED}", f"ca-cert-hash={CA_HASH}", *extra)


def since(host: Machine, start: int) -> list[str]:
    """The stubbed commands called since call number start."""
    return host.commands()[start:]
