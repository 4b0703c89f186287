"""SSH signatures of the served scripts (``ssh-keygen -Y sign`` compatible), with the key named by
``KUBEINIT_SIGNING_KEY``.

The format is OpenSSH's SSHSIG, as specified in openssh/openssh-portable ``PROTOCOL.sshsig``: the
key signs ``"SSHSIG" || string(namespace) || string(reserved="") || string(hash_algorithm) ||
string(H(message))``, and the armoured signature holds ``"SSHSIG" || uint32(1) || string(public key)
|| string(namespace) || string(reserved) || string(hash_algorithm) || string(signature)``, base64 in
70-column lines between ``-----BEGIN SSH SIGNATURE-----`` and ``-----END SSH SIGNATURE-----``.
Hosts verify with the stock ``ssh-keygen -Y verify`` (OpenSSH 8.1 and later).

Signing here rather than by running ``ssh-keygen -Y sign``: an Ed25519 signature of an 80 KB script
costs about 0.1 ms in-process against a few milliseconds for a process, and it is computed once per
rendered script (``Rendered.signature``), not per request.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import struct
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

NAMESPACE = "kubeinit"
PRINCIPAL = "kubeinit"
HASH = "sha512"
MAGIC = b"SSHSIG"


def _string(data: bytes) -> bytes:
    """An SSH wire-format string (RFC 4251 section 5): uint32 length, then the bytes."""
    return struct.pack(">I", len(data)) + data


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey
    public_line: str  # "ssh-ed25519 AAAA..." as in a .pub file, without a comment

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
        except OSError as exc:
            raise ValueError(f"signing_key: cannot read {path}: {exc.strerror}") from None
        except (ValueError, TypeError) as exc:
            raise ValueError(f"signing_key: {path} is not an unencrypted OpenSSH private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"signing_key: {path} is not an ed25519 key: make one with "
                             "ssh-keygen -t ed25519 -N '' -C kubeinit -f kubeinit")
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return cls(key, public.decode())

    @property
    def public_blob(self) -> bytes:
        return base64.b64decode(self.public_line.split()[1])

    def sign(self, message: bytes, namespace: str = NAMESPACE) -> str:
        """The armoured SSH signature of ``message``, as ``ssh-keygen -Y sign -n NAMESPACE`` writes it."""
        digest = hashlib.sha512(message).digest()
        signed = MAGIC + _string(namespace.encode()) + _string(b"") + _string(HASH.encode()) + _string(digest)
        signature = _string(b"ssh-ed25519") + _string(self.key.sign(signed))
        blob = (MAGIC + struct.pack(">I", 1) + _string(self.public_blob) + _string(namespace.encode())
                + _string(b"") + _string(HASH.encode()) + _string(signature))
        lines = textwrap.wrap(base64.b64encode(blob).decode(), 70)
        return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"

    def allowed_signers(self) -> str:
        """What ``GET /kubeinit.pub`` serves: the public key, and a line that makes the body itself an
        ``allowed_signers`` file for ``ssh-keygen -Y verify``."""
        return (
            "# kubeinit's script signing key: SSH signatures, namespace \"kubeinit\". Keep a copy of this file\n"
            "# as allowed_signers (compare its key with the one your operator published), then verify:\n"
            "#   ssh-keygen -Y verify -f allowed_signers -I kubeinit -n kubeinit -s kubernetes-init.sh.sig < kubernetes-init.sh\n"
            f"# public key: {self.public_line} {PRINCIPAL}\n"
            f'{PRINCIPAL} namespaces="{NAMESPACE}" {self.public_line}\n'
        )


@lru_cache(maxsize=1)
def signer() -> Signer | None:
    """The configured signer, read once; None when no key is configured."""
    from app.settings import get_settings

    path = get_settings().signing_key
    return Signer.from_file(path) if path is not None else None


def announce() -> None:
    """The start-up log line saying whether scripts are signed (a bad key is /readyz's to report)."""
    log = logging.getLogger("uvicorn.error")  # where uvicorn writes its own start-up lines
    try:
        found = signer()
    except ValueError as exc:
        log.error("scripts are not signed: %s", exc)
        return
    if found is None:
        log.info("scripts are not signed: no KUBEINIT_SIGNING_KEY, so the .sig routes and /kubeinit.pub answer 404")
    else:
        log.info("scripts are signed with %s (namespace %s): .sig routes and /kubeinit.pub are served",
                    found.public_line[:40] + "...", NAMESPACE)
