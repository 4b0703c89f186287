"""The distributions the README names, one facts file each (``<name>.toml``, sources in its header).

    distro_facts("rocky9")["iptables"]["backend"]      # "nf_tables"
    distro_facts("debian12")["repository"]["containerd.io"]  # Docker's containerd.io versions
    DISTROS                                           # every name, sorted

A facts file holds: ``name``, ``family`` (debian or rhel), ``suite`` (Debian rows: the debootstrapped root),
``os_release``, ``cgroup`` (1 or 2), ``firewall``, ``kernel`` (``uname -r`` by architecture), ``iptables``
(``version_output`` as ``iptables -V`` prints it, ``version``, ``backend``) and ``repository`` (the
distribution's own ``containerd`` version, empty when it has none, and Docker's ``containerd.io`` versions).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
DISTROS = sorted(p.stem for p in HERE.glob("*.toml"))
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}  # Debian's name -> uname -m


@cache
def _load(name: str) -> dict:
    return tomllib.loads((HERE / f"{name}.toml").read_text())


def distro_facts(name: str) -> dict:
    """The facts of one distribution (a fresh copy: callers may change it)."""
    if name not in DISTROS:
        raise KeyError(f"{name!r}: no facts file (known: {', '.join(DISTROS)})")
    import copy

    return copy.deepcopy(_load(name))
