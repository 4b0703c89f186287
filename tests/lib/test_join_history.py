"""The printed join steps pasted into a real interactive bash on a pseudo-terminal, its history read
back: the token and the certificate key must not be in it (bash keeps a here-document's body in the
history with its command, so the former block, a here-document, leaked them to ~/.bash_history)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.support import render_script
from tests.support.network import call

TOKEN = "abcdef.0123456789abcdef"
KEY = "0f" * 32
PASTE_ON, PASTE_OFF = b"\x1b[200~", b"\x1b[201~"  # xterm's bracketed paste, as bash 5.2 asks for it


class Terminal:
    """bash -i on a pty, driven as a terminal emulator is: a paste is wrapped in the bracketed-paste
    marks while the program reading says it wants them (ESC[?2004h, as readline does), raw otherwise."""

    def __init__(self, home: Path, path: str):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve("/bin/bash", ["bash", "--norc", "-i"],
                      {"HOME": str(home), "HISTFILE": str(home / ".bash_history"), "PATH": path, "TERM": "xterm",
                       "PS1": "$ "})
        self.seen = b""

    def read(self, seconds: float = 0.5) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    return

    def bracketed(self) -> bool:
        return self.seen.rfind(b"\x1b[?2004h") > self.seen.rfind(b"\x1b[?2004l")

    def paste(self, text: str) -> None:
        self.read()
        data = text.replace("\n", "\r").encode()
        os.write(self.fd, PASTE_ON + data + PASTE_OFF if self.bracketed() else data)
        self.read()

    def key(self, data: bytes) -> None:
        os.write(self.fd, data)
        self.read()

    def close(self) -> None:
        self.key(b"exit\r")
        os.waitpid(self.pid, 0)


def join_steps(block: str) -> tuple[str, str, str]:
    """The three steps of a printed join: the command that starts cat, the lines to paste, the run."""
    parts = block.split("\n\n")
    return parts[1] + "\n", parts[3] + "\n", parts[5].split("\n")[0] + "\n"


def test_the_join_steps_pasted_into_an_interactive_bash_keep_the_secrets_out_of_its_history(tmp_path: Path):
    block = call(render_script(), "join_command", "", "api-server=10.0.0.5:6443", f"token={TOKEN}",
                 "ca-cert-hash=sha256:" + "ab" * 32, "control-plane", f"certificate-key={KEY}").stdout
    start, secrets, run = join_steps(block)
    assert start == "sudo sh -c 'umask 077 && rm -f /root/kubeinit-join && cat >/root/kubeinit-join'\n"
    assert TOKEN in secrets and KEY in secrets and TOKEN not in start + run and KEY not in start + run
    # sudo as the stub a root operator's sudo amounts to, writing the file under the test's directory
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "sudo").write_text(f'#!/bin/bash\nexec "${{@//\\/root\\//{tmp_path}/}}"\n')
    (stubs / "sudo").chmod(0o755)
    (stubs / "curl").write_text("#!/bin/sh\necho 'echo joined' \n")
    (stubs / "curl").chmod(0o755)
    term = Terminal(tmp_path, f"{stubs}:/usr/bin:/bin")
    term.paste(start.rstrip("\n"))
    term.key(b"\r")  # Enter: bash runs it, and cat reads the terminal
    term.paste(secrets)
    term.key(b"\r\x04")  # Enter, then Ctrl-D: cat's end of input
    term.paste(run.rstrip("\n"))
    term.key(b"\r")
    term.close()
    history = (tmp_path / ".bash_history").read_text()
    assert "cat >/root/kubeinit-join" in history  # the history was written
    assert TOKEN not in history and KEY not in history
    written = tmp_path / "kubeinit-join"
    assert TOKEN in written.read_text() and KEY in written.read_text()
    assert written.stat().st_mode & 0o777 == 0o600
