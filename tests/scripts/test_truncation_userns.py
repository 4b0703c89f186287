"""A download cut short runs nothing: the script truncated at every 1 KiB, and at every byte of
its last lines, changes nothing on the host, while the whole script does reach main."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sandbox import Sandbox
from tests.support import render_script

VARIANTS = {
    "defaults": {},
    "options": {"nodelocal_dnscache": "1", "encrypt_network": "0", "pod_cidr": "10.200.0.0/16",
                "weave_mtu": "1400", "public_address": "api.example.com"},
}
MAIN_REACHED = "[INFO] kubeinit "  # main's first log line


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def cut_offsets(script: bytes) -> list[int]:
    """Every 1 KiB, and every byte of the last 200 (the closing `{ main "$@"; }` line and before).

    Only the final newline may go missing: the last line is then whole, and runs.
    """
    size = len(script.rstrip(b"\n"))
    return sorted(set(range(0, size, 1024)) | set(range(max(0, size - 200), size)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("args", [(), ("dry-run",)], ids=["install", "dry-run"])
def test_a_truncated_script_changes_nothing(sandbox: Sandbox, variant: str, args: tuple[str, ...]) -> None:
    script = render_script(**VARIANTS[variant]).encode()
    # Control: the same harness runs the whole script into main (as root of a user namespace).
    sandbox.reset()
    whole = sandbox.run(script, *args, userns_root=True)
    assert MAIN_REACHED in whole.stderr, whole.stderr
    ran: list[str] = []
    for offset in cut_offsets(script):
        sandbox.reset()
        run = sandbox.run(script[:offset], *args, userns_root=True)
        if sandbox.calls() or run.stdout or MAIN_REACHED in run.stderr:
            ran.append(f"cut at {offset}: calls={sandbox.calls()} stdout={run.stdout[:200]!r} stderr={run.stderr[-300:]!r}")
    assert ran == []
