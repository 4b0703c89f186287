"""A download cut short runs nothing: the script truncated at every 1 KiB, and at every byte of
its last lines, changes nothing on the host, while the whole script does reach main."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator

import pytest

from app.routes.scripts import SCRIPTS
from tests.support.sandbox import Sandbox
from tests.support import render_script

VARIANTS = {
    "defaults": {},
    "options": {"nodelocal_dnscache": "1", "encrypt_network": "0", "pod_cidr": "10.200.0.0/16",
                "weave_mtu": "1400", "public_address": "api.example.com"},
}
MAIN_REACHED = "[INFO] kubeinit "  # main's first log line


def cut_offsets(script: bytes) -> list[int]:
    """Every 1 KiB, and every byte of the last 200 (the call to main, the closing brace and before).

    Only the final newline may go missing: the last line is then whole, and runs.
    """
    size = len(script.rstrip(b"\n"))
    return sorted(set(range(0, size, 1024)) | set(range(max(0, size - 200), size)))


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[list[Sandbox]]:
    """One sandbox a CPU: the cuts run side by side, each sandbox's calls its own."""
    boxes = [Sandbox() for _ in range(os.cpu_count() or 1)]
    yield boxes
    for box in boxes:
        box.close()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("args", [(), ("dry-run",)], ids=["install", "dry-run"])
def test_a_truncated_script_changes_nothing(sandboxes: list[Sandbox], variant: str, args: tuple[str, ...]) -> None:
    script = render_script(**VARIANTS[variant]).encode()
    # Control: the same harness runs the whole script into main (as root of a user namespace).
    sandboxes[0].reset()
    whole = sandboxes[0].run(script, *args, userns_root=True)
    assert MAIN_REACHED in whole.stderr, whole.stderr

    def cuts(box: Sandbox, offsets: list[int]) -> list[str]:
        ran = []
        for offset in offsets:
            box.reset()
            run = box.run(script[:offset], *args, userns_root=True)
            if box.calls() or run.stdout or MAIN_REACHED in run.stderr:
                ran.append(f"cut at {offset}: calls={box.calls()} stdout={run.stdout[:200]!r} stderr={run.stderr[-300:]!r}")
        return ran

    offsets = cut_offsets(script)
    with ThreadPoolExecutor(len(sandboxes)) as pool:
        shares = pool.map(cuts, sandboxes, [offsets[i::len(sandboxes)] for i in range(len(sandboxes))])
        assert [line for share in shares for line in share] == []



@pytest.fixture(scope="module")
def commands() -> set[str]:
    """Every name bash would run here: builtins, keywords and commands on PATH."""
    return set(subprocess.run(["bash", "-c", "compgen -c"], capture_output=True, text=True, check=True).stdout.split())


def word_cuts(script: str, commands: set[str]) -> set[int]:
    """Offsets that cut an unindented line at its start, after its first letter, or where its first
    word cut short names a command: where a cut of the old layout ran something (`w` of
    "weave_iptables() {", and the same way `halt`, `reset`, `install`, `su` of other lines)."""
    cuts = set()
    for match in re.finditer(r"(?m)^[A-Za-z_][A-Za-z0-9_-]*", script):
        word = match.group()
        cuts |= {match.start(), match.start() + 1}
        cuts |= {match.start() + i for i in range(2, len(word) + 1) if word[:i] in commands}
    return cuts


@pytest.mark.parametrize("path", [script.path for script in SCRIPTS])
def test_past_the_sh_guard_any_cut_is_a_syntax_error_so_bash_runs_none_of_it(path: str, commands: set[str]) -> None:
    # The sandbox test above cuts every 1 KiB; this one cuts every unindented line where a cut
    # could run something, and asks bash itself (bash -n): the brace group the header opens is unclosed.
    script = render_script(f"scripts{path}.sh.j2")
    start = script.index("\n{\n") + 1  # the guard before it is whole: it runs, and only stops sh
    before = [line for line in script[:start].splitlines() if line and not line.startswith("#")]
    assert before[-1] == "fi", "the sh guard no longer comes just before the brace group"
    offsets = sorted(o for o in word_cuts(script, commands) if start < o < len(script) - 1)
    assert len(offsets) > 200

    def parses(offset: int) -> bool:
        return subprocess.run(["bash", "-n"], input=script[:offset], capture_output=True, text=True).returncode == 0

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        ran = [f"cut at {o}: {script[max(0, o - 60):o]!r} parses, so bash would run it"
               for o, ok in zip(offsets, pool.map(parses, offsets)) if ok]
    assert ran == []
