"""The PIN key: AES-SIV, deterministic authenticated encryption.

Equal PINs give equal ciphertexts, so the ciphertext carries a unique index and a lookup by PIN
is one indexed query, while the PIN can still be decrypted to be shown. The key lives in a 0600
file (`topup.key` beside the default database unless `TOPUP_KEY_FILE` names another); the
database records its fingerprint so that a database is never opened with the wrong key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from topup_tui.core.errors import DatabaseError

KEY_BYTES = 64  # AES-SIV with a 512-bit key (two AES-256 keys)
_HEADER = "topup-tui PIN key v1 (AES-SIV-512). Back it up; without it no card can be redeemed.\n"


class PinKey:
    """The loaded key: encrypts and decrypts PINs, and names itself by a fingerprint."""

    def __init__(self, raw: bytes, path: Path | None = None) -> None:
        if len(raw) != KEY_BYTES:
            raise DatabaseError(f"key file {path}: expected {KEY_BYTES} bytes of key, found {len(raw)}")
        self.path = path
        self._siv = AESSIV(raw)
        # A fingerprint that says which key this is without saying anything about the key.
        self.fingerprint = "sha256:" + hashlib.sha256(b"topup-tui key fingerprint\0" + raw).hexdigest()[:32]

    def encrypt(self, pin: str) -> bytes:
        return self._siv.encrypt(pin.encode("ascii"), None)

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._siv.decrypt(bytes(blob), None).decode("ascii")
        except InvalidTag:
            raise DatabaseError("a stored PIN does not decrypt with this key (was the key file replaced?)") from None


def read_key(path: Path) -> PinKey:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise DatabaseError(f"no key file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"cannot read key file {path}: {exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("topup-tui")]
    try:
        raw = base64.b64decode("".join(lines), validate=True)
    except ValueError:
        raise DatabaseError(f"key file {path} is damaged (not base64)") from None
    return PinKey(raw, path)


def create_key(path: Path) -> PinKey:
    """Write a new random key to `path`, 0600, refusing to replace an existing file."""
    raw = os.urandom(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(_HEADER + base64.b64encode(raw).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return PinKey(raw, path)
