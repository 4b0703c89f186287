"""Helpers shared by the tests: render scripts, run them, record what they call."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.params import parse_pairs
from app.rendering import render

BASE_URL = "http://kubeinit.test:8000"
# Every script's last lines: the call to main, and the end of the brace group lib/header opens.
MAIN_CALL = 'main "$@"\n}\n'


def render_script(template: str = "scripts/kubernetes-init.sh.j2", /, **options: str) -> str:
    """The script the service serves for these query options (names in either spelling)."""
    return render(template, parse_pairs(options.items()), BASE_URL).body.decode()


def with_body(script: str, body: str) -> str:
    """The script's defaults and functions, then ``body`` where main would run (main is not called)."""
    assert script.endswith(MAIN_CALL), "the script no longer ends with its main call"
    return script[: -len(MAIN_CALL)] + body + "\n}\n"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_bash(script: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             as_nobody: bool = False, timeout: float = 60) -> Run:
    """Run a script the way users do: piped into `bash -s ARGS`. as_nobody drops root (setpriv)."""
    command = ["bash", "-s", *args]
    if as_nobody:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    full_env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "HOME": str(cwd or "/tmp"), "NO_COLOR": "1"}
    full_env.update(env or {})
    proc = subprocess.run(command, input=script, capture_output=True, text=True, cwd=cwd, env=full_env,
                          timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


STUB = """#!/bin/sh
# Recording stub: appends its name and arguments, shell-quoted, to $STUB_LOG; saves stdin when piped.
STUB_LOG=${STUB_LOG:-%(log)s}
n=$(wc -l <"$STUB_LOG" 2>/dev/null || echo 0)
stdin_file=/dev/null
if [ ! -t 0 ]; then stdin_file=$STUB_LOG.stdin.$n; cat >"$stdin_file" 2>/dev/null || true; fi
{ printf '%%s' "$(basename "$0")"; for a in "$@"; do printf " '%%s'" "$(printf '%%s' "$a" | sed "s/'/'\\\\\\\\''/g")"; done; echo; } >>"$STUB_LOG"
"""


class Stubs:
    """A directory of recording stubs to put first on PATH.

    behaviour maps a stub's name to a POSIX sh snippet run after recording, with the
    arguments in "$@" and the saved stdin readable from "$stdin_file": it may print canned
    output, keep state in files, or fail (``exit 1``). log_path is where the stubs write their
    log as they see it (for stubs run under chroot); it defaults to ``directory/calls.log``.
    """

    def __init__(self, directory: Path, names: list[str], behaviour: dict[str, str] | None = None,
                 log_path: str | None = None):
        self.dir = directory
        self.log = directory / "calls.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        behaviour = behaviour or {}
        unknown = set(behaviour) - set(names)
        if unknown:
            raise ValueError(f"behaviour for commands that are not stubbed: {sorted(unknown)}")
        for name in names:
            path = directory / name
            path.write_text(STUB % {"log": shlex.quote(log_path or str(self.log))} + behaviour.get(name, "") + "\n")
            path.chmod(0o755)

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.dir}:{os.environ['PATH']}", "STUB_LOG": str(self.log)}

    def calls(self) -> list[list[str]]:
        return [shlex.split(line) for line in self.log.read_text().splitlines()]

    def stdin(self, index: int) -> str:
        """What the index-th call (0-based, as in calls()) read on stdin."""
        saved = self.log.with_name(f"{self.log.name}.stdin.{index}")
        return saved.read_text() if saved.exists() else ""


def reload_settings() -> None:
    """Forget everything derived from the settings, as a restarted process would: the settings,
    the render, query-parse and readiness caches, and the middleware stack (the response cache)."""
    from app import rendering
    from app.main import app
    from app.routes import health, scripts
    from app.settings import get_settings
    from app.signing import signer

    for cached in (get_settings, rendering._cache, scripts._cached_parse_query, health._ready, signer):
        cached.cache_clear()
    app.middleware_stack = None
