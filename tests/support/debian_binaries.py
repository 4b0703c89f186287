"""Real binaries of other Debian releases, for the tests to run on this Debian 12 machine: containerd 1.7 (Debian 13)
and 2.x (Debian unstable) read back the config.toml the installer writes (tests/lib/test_containerd.py).

    containerd = debian_binary("trixie", "containerd", "usr/bin/containerd")   # -> (Path, version)

Fetched from Debian's mirror as apt would: the suite's InRelease checked with gpgv against this machine's
debian-archive-keyring, the Packages index against InRelease's SHA256, the .deb against the index's. The
package unpacked (dpkg-deb -x) is cached under /var/cache/kubeinit-tests/, keyed by its version, so a suite that
moves on fetches its new version once. Both releases' containerd need only libc6 (>= 2.34), which Debian 12 has.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from tests.support.aptrepo import ARCH
from tests.support.rootfs import CACHE, MIRROR

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 (Debian's mirror, fixed)
        return response.read()


def _stanza(index: str, package: str) -> dict[str, str]:
    for block in index.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") == package:
            return fields
    raise LookupError(f"{package} is not in the index")


def debian_binary(suite: str, package: str, path: str) -> tuple[Path, str]:
    """(PATH of PACKAGE as SUITE ships it now, unpacked here; its version)."""
    inrelease = _get(f"{MIRROR}/dists/{suite}/InRelease")
    with tempfile.NamedTemporaryFile() as signed:
        signed.write(inrelease)
        signed.flush()
        subprocess.run(["gpgv", "--keyring", KEYRING, signed.name], check=True, capture_output=True)
    name = f"main/binary-{ARCH}/Packages.xz"
    sums = {line.split()[2]: line.split()[0] for line in inrelease.decode().splitlines()
            if line.startswith(" ") and len(line.split()) == 3}
    data = _get(f"{MIRROR}/dists/{suite}/{name}")
    assert hashlib.sha256(data).hexdigest() == sums[name], f"{suite} {name}: not the index InRelease signs"
    fields = _stanza(lzma.decompress(data).decode(), package)
    tree = CACHE / f"debian-{suite}-{package}-{fields['Version'].replace(':', '_')}"
    if not (tree / path).exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / ".lock-debian", "w") as lock:  # one download at a time, across test processes
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (tree / path).exists():
                deb = _get(f"{MIRROR}/{fields['Filename']}")
                assert hashlib.sha256(deb).hexdigest() == fields["SHA256"], f"{fields['Filename']}: not the indexed file"
                building = tree.with_name(tree.name + ".part")
                subprocess.run(["rm", "-rf", str(building)], check=True)
                building.mkdir()
                with tempfile.NamedTemporaryFile(suffix=".deb") as file:
                    file.write(deb)
                    file.flush()
                    subprocess.run(["dpkg-deb", "-x", file.name, str(building)], check=True)
                building.rename(tree)
    return tree / path, fields["Version"]
