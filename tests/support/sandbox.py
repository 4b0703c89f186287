"""An isolated place to run a rendered script and see whether anything was injected into it.

The script runs as nobody (setpriv), optionally as root of a fresh user namespace (so it takes
its root-only paths while the host's files stay out of reach), with its own HOME and working
directory and recording stubs first on PATH for every command that changes a host. Values under
test carry planted commands: ``kubeinit-pwned`` (a stub that only an injection would call) and
``touch $KUBEINIT_MARKER``. The sandbox is writable by nobody, so a planted command that did run
would leave its trace: the checks can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from app.params import NAMES, Options, flag, text
from tests.support import Run, Stubs

PLANTED = "kubeinit-pwned"
# Commands that change a host or need a real machine or cluster, and the file commands that
# file_write and cleanup use: a stub records each call instead of running it.
HOST_COMMANDS = [
    "apt-get", "apt-key", "apt-mark", "dpkg", "yum", "dnf", "systemctl", "service", "kubeadm", "kubectl",
    "kubelet", "crictl", "containerd", "modprobe", "sysctl", "swapoff", "iptables", "ip6tables", "ipvsadm",
    "ip", "curl", "wget", "gpg", "mount", "useradd", "reboot", "shutdown", "mkdir", "mv", "cp", "rm",
    "chmod", "chown", "ln", "tee", "install",
]
# Injected commands: each leaves a trace if it ever runs.
INJECTIONS = [
    f"$({PLANTED})", f"`{PLANTED}`", f";{PLANTED}", f"&&{PLANTED}", f"|{PLANTED}", f"\n{PLANTED}\n",
    f"';{PLANTED};'", f'";{PLANTED};"', "$(touch $KUBEINIT_MARKER)", "'$(touch \"$KUBEINIT_MARKER\")'",
    f"\\'$({PLANTED})", f"${{IFS}}{PLANTED}", f"$((1))$({PLANTED})", f"<({PLANTED})", f">({PLANTED})",
    f"\r\n{PLANTED}", f"$'\\x41'$({PLANTED})", f"{{{PLANTED},}}", f"\"$({PLANTED})\"", f"${{x:-$({PLANTED})}}",
    f"'\"`{PLANTED}`\"'", f"\n$({PLANTED})#", f"%0a{PLANTED}", f"\x00$({PLANTED})",
]


def settings_line(options: Options) -> str:
    """The `[INFO] settings:` line that `dry-run` prints when the script resolved these options."""
    return "[INFO] settings: " + " ".join(f"{flag(n)}={text(getattr(options, n))}" for n in NAMES)


class Sandbox:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kubeinit-sandbox-"))
        self.home = self.root / "home"
        self.marker = self.root / "marker"
        self.stubs = Stubs(self.root / "stubs", [*HOST_COMMANDS, PLANTED])
        self.home.mkdir()
        for path in (self.root, self.home, self.stubs.dir):
            path.chmod(0o777)
        self.stubs.log.chmod(0o666)
        self.env = {
            **self.stubs.env(),
            "HOME": str(self.home),
            "LC_ALL": "C.UTF-8",
            "NO_COLOR": "1",
            "KUBEINIT_MARKER": str(self.marker),
            "TMPDIR": str(self.home),
        }

    def run(self, script: str | bytes, *args: str, userns_root: bool = False, timeout: float = 60) -> Run:
        """Pipe the script into `bash -s -- ARGS` as nobody (or as root of a new user namespace).

        `--` keeps an argument such as `-0` from being taken as an option of bash itself.
        """
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        if userns_root:
            command += ["unshare", "--user", "--map-root-user"]
        data = script if isinstance(script, bytes) else script.encode()
        proc = subprocess.run([*command, "bash", "-s", "--", *args], input=data, capture_output=True,
                              cwd=self.home, env=self.env, timeout=timeout, check=False)
        return Run(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    def calls(self) -> list[list[str]]:
        return self.stubs.calls()

    def injected(self) -> list[str]:
        """Traces of planted commands: the marker file and calls of the planted stub."""
        traces = [f"marker {self.marker} exists"] if self.marker.exists() else []
        return traces + [" ".join(c) for c in self.calls() if c[0] == PLANTED]

    def reset(self) -> None:
        self.marker.unlink(missing_ok=True)
        self.stubs.log.write_text("")
        for saved in self.stubs.dir.glob("calls.log.stdin.*"):
            saved.unlink()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
