"""Signed scripts (app/signing.py): every script route's .sig twin verifies with the real
`ssh-keygen -Y verify` (openssh-client) over exactly the served bytes, and nothing else does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.signing import Signer
from tests.conftest import start_uvicorn

ROUTES = ["/kubernetes-init", "/kubernetes-node-join", "/kubernetes-troubleshoot"]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubeinit", "-f", str(path)], check=True)
    return path


def verify(directory: Path, script: bytes, signature: bytes, allowed_signers: bytes,
           namespace: str = "kubeinit") -> subprocess.CompletedProcess:
    (directory / "allowed_signers").write_bytes(allowed_signers)
    (directory / "script.sh.sig").write_bytes(signature)
    return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", "allowed_signers", "-I", "kubeinit", "-n", namespace,
                           "-s", "script.sh.sig"], input=script, cwd=directory, capture_output=True, check=False)


@pytest.fixture
def signed(settings_env, tmp_path):
    key = keygen(tmp_path / "kubeinit")
    return settings_env(KUBEINIT_SIGNING_KEY=str(key)), key


@pytest.mark.parametrize("route", ROUTES)
def test_every_script_route_has_a_signature_that_ssh_keygen_accepts(signed, tmp_path, route):
    client, _ = signed
    query = "?nodelocal_dnscache=1&pod_cidr=10.40.0.0/16"
    script = client.get(route + query)
    signature = client.get(route + ".sig" + query)
    assert signature.status_code == 200 and signature.text.startswith("-----BEGIN SSH SIGNATURE-----\n")
    result = verify(tmp_path, script.content, signature.content, client.get("/kubeinit.pub").content)
    assert result.returncode == 0, result.stderr
    assert b'Good "kubeinit" signature for kubeinit' in result.stdout + result.stderr


def test_the_signature_is_exactly_what_ssh_keygen_sign_writes(signed, tmp_path):
    client, key = signed
    script = client.get("/kubernetes-init").content
    (tmp_path / "kubernetes-init.sh").write_bytes(script)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "kubeinit", "kubernetes-init.sh"],
                   cwd=tmp_path, check=True, capture_output=True)
    assert client.get("/kubernetes-init.sig").content == (tmp_path / "kubernetes-init.sh.sig").read_bytes()


def test_a_changed_byte_another_key_or_another_namespace_fail(signed, tmp_path):
    client, _ = signed
    script = client.get("/kubernetes-init").content
    signature = client.get("/kubernetes-init.sig").content
    allowed = client.get("/kubeinit.pub").content
    assert verify(tmp_path, script, signature, allowed).returncode == 0
    changed = script.replace(b"ENCRYPT_NETWORK=1", b"ENCRYPT_NETWORK=0", 1)
    assert changed != script and verify(tmp_path, changed, signature, allowed).returncode != 0
    other = Signer.from_file(keygen(tmp_path / "other"))
    assert verify(tmp_path, script, signature, other.allowed_signers().encode()).returncode != 0
    assert verify(tmp_path, script, other.sign(script).encode(), allowed).returncode != 0  # signed by another key
    assert verify(tmp_path, script, signature, allowed, namespace="file").returncode != 0
    elsewhere = other.sign(script, namespace="git").encode()
    assert verify(tmp_path, script, elsewhere, other.allowed_signers().encode()).returncode != 0


def test_the_signature_follows_the_query(signed, tmp_path):
    client, _ = signed
    allowed = client.get("/kubeinit.pub").content
    other_script = client.get("/kubernetes-init?weave_version=2.8.1").content
    assert verify(tmp_path, other_script, client.get("/kubernetes-init.sig").content, allowed).returncode != 0


def test_a_script_is_signed_once_however_often_it_is_asked_for(signed, monkeypatch):
    client, _ = signed
    calls = []
    original = Signer.sign
    monkeypatch.setattr(Signer, "sign", lambda self, message, namespace="kubeinit": calls.append(1) or original(self, message, namespace))
    first = client.get("/kubernetes-init.sig?cluster_domain=signed.once")
    for _ in range(5):
        assert client.get("/kubernetes-init.sig?cluster_domain=signed.once").content == first.content
    assert len(calls) == 1


def test_without_a_key_there_is_no_signature_and_the_answer_says_why(settings_env):
    client = settings_env()
    for path in ("/kubernetes-init.sig", "/kubeinit.pub"):
        response = client.get(path)
        assert response.status_code == 404
        result = subprocess.run(["bash"], input=response.text, capture_output=True, text=True, check=False)
        assert result.returncode == 1
        assert f"kubeinit: {path}: this service signs no scripts (no KUBEINIT_SIGNING_KEY is configured)" in result.stderr
    assert "KUBEINIT_SIGNED=0" in client.get("/kubernetes-init").text


def test_a_key_that_is_not_ed25519_makes_the_service_not_ready(settings_env, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "ecdsa")], check=True)
    response = settings_env(KUBEINIT_SIGNING_KEY=str(tmp_path / "ecdsa")).get("/readyz")
    assert response.status_code == 503 and "is not an ed25519 key" in response.text


@pytest.mark.parametrize("with_key", [False, True])
def test_the_service_says_at_start_whether_it_signs(tmp_path, with_key):
    env = {"KUBEINIT_SIGNING_KEY": str(keygen(tmp_path / "kubeinit"))} if with_key else {}
    proc, _ = start_uvicorn(env)
    proc.terminate()
    output = proc.communicate(timeout=10)[0].decode()
    if with_key:
        assert "scripts are signed with ssh-ed25519" in output
    else:
        assert "scripts are not signed: no KUBEINIT_SIGNING_KEY" in output
