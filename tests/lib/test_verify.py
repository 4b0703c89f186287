"""lib/verify: the verify-first command the installer prints when the service signs its scripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import Stubs, render_script
from tests.support.network import call


def test_unsigned_the_command_is_the_plain_pipe():
    script = render_script()
    assert "KUBEINIT_SIGNED=0" in script
    result = call(script, "verify_command", "kubernetes-node-join", "kubernetes_version=1.37.3", "join-file=/root/kubeinit-join")
    assert result.stdout == ("curl -sSL 'http://kubeinit.test:8000/kubernetes-node-join?kubernetes_version=1.37.3' "
                             "| sudo bash -s join-file=/root/kubeinit-join\n")


def test_signed_the_command_downloads_verifies_then_runs(settings_env, tmp_path: Path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    client = settings_env(KUBEINIT_SIGNING_KEY=str(tmp_path / "key"))
    script = client.get("/kubernetes-init").text
    assert "KUBEINIT_SIGNED=1" in script
    result = call(script, "verify_command", "kubernetes-node-join", "", "join-file=/root/kubeinit-join")
    lines = result.stdout.splitlines()
    base = "http://testserver"
    assert lines[:4] == [
        f"curl -fsSL -o kubernetes-node-join.sh '{base}/kubernetes-node-join' &&",
        f"    curl -fsSL -o kubernetes-node-join.sh.sig '{base}/kubernetes-node-join.sig' &&",
        "    ssh-keygen -Y verify -f allowed_signers -I kubeinit -n kubeinit -s kubernetes-node-join.sh.sig <kubernetes-node-join.sh &&",
        "    sudo bash kubernetes-node-join.sh join-file=/root/kubeinit-join",
    ]
    assert f"{base}/kubeinit.pub" in lines[4]

    # The command as printed works: with the service's files in place of curl's downloads, it
    # verifies and runs; a script changed on the way is not run.
    (tmp_path / "allowed_signers").write_bytes(client.get("/kubeinit.pub").content)
    served = {"kubernetes-node-join.sh": client.get("/kubernetes-node-join").content,
              "kubernetes-node-join.sh.sig": client.get("/kubernetes-node-join.sig").content}
    command = "\n".join(lines[:4])
    for changed in (False, True):
        for name, body in served.items():
            (tmp_path / f"{name}.served").write_bytes(body + (b"# changed\n" if changed and name.endswith(".sh") else b""))
        stubs = Stubs(tmp_path / f"stubs-{changed}", ["curl", "sudo"], {"curl": f'cp "{tmp_path}/$3.served" "$3"'})
        ran = subprocess.run(["bash", "-euc", command], cwd=tmp_path, env={**stubs.env(), "HOME": str(tmp_path)},
                             capture_output=True, text=True, check=False)
        ran_script = ["sudo", "bash", "kubernetes-node-join.sh", "join-file=/root/kubeinit-join"] in stubs.calls()
        if changed:
            assert ran.returncode != 0 and not ran_script
        else:
            assert ran.returncode == 0 and ran_script, ran.stderr
