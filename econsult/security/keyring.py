"""Key-encryption keys (KEKs) and the AES-256-GCM primitives built on them.

A keyring holds one active KEK and any older ones still needed for decryption.
KEK ids are derived from the key itself (a SHA-256 fingerprint), so an id can
never silently point at a different key after a restore or a copy.

Two uses:
- envelope encryption: `wrap` / `unwrap` a random per-object data key;
- field encryption: `seal` / `open` short values (patient identifiers, message
  bodies) into a self-describing token that names the KEK that sealed it.
Associated data binds every ciphertext to where it belongs, so a value moved to
another row, column or image fails to decrypt instead of being shown.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from econsult.security.private_files import write_private

KEY_BYTES = 32
NONCE_BYTES = 12
KEK_ID_LENGTH = 16  # hex characters of the fingerprint
_TOKEN_VERSION = 1
_KEY_FILE_VERSION = 1


class KeyringError(Exception):
    """A key is missing, malformed or unusable."""


class IntegrityError(KeyringError):
    """Ciphertext failed authentication: altered, swapped, or sealed under another key."""


def kek_id_for(key: bytes) -> str:
    return hashlib.sha256(b"econsult-kek-id\x00" + key).hexdigest()[:KEK_ID_LENGTH]


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


@dataclass(frozen=True)
class Kek:
    id: str
    key: bytes

    @classmethod
    def from_bytes(cls, key: bytes) -> Kek:
        if len(key) != KEY_BYTES:
            raise KeyringError(f"a KEK must be {KEY_BYTES} bytes, got {len(key)}")
        return cls(id=kek_id_for(key), key=key)

    def __repr__(self) -> str:  # never print key material
        return f"Kek(id={self.id!r})"

    @functools.cached_property
    def aead(self) -> AESGCM:
        """The cipher object, made once (lists open one field per row)."""
        return AESGCM(self.key)


class Keyring:
    """One active KEK plus older ones kept for decryption."""

    def __init__(self, active: Kek, others: Iterable[Kek] = ()) -> None:
        self._keks: dict[str, Kek] = {k.id: k for k in others}
        self._keks[active.id] = active
        self.active = active

    def replace_with(self, other: Keyring) -> None:
        """Take another keyring's keys in place, so every holder of this object sees a
        rotation without a restart."""
        self._keks = dict(other._keks)
        self.active = other.active

    @property
    def active_id(self) -> str:
        return self.active.id

    @property
    def ids(self) -> list[str]:
        return list(self._keks)

    def get(self, kek_id: str) -> Kek:
        try:
            return self._keks[kek_id]
        except KeyError:
            raise KeyringError(f"KEK {kek_id} is not in the keyring") from None

    # --- envelope encryption -------------------------------------------------

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        """Encrypt a data key under the active KEK; returns (kek_id, nonce||ciphertext)."""
        return self.active.id, _encrypt(self.active.key, data_key, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        return _decrypt(self.get(kek_id).aead, wrapped, aad)

    def rewrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> tuple[str, bytes]:
        """Re-encrypt a wrapped data key under the active KEK (key rotation)."""
        return self.wrap(self.unwrap(kek_id, wrapped, aad), aad)

    # --- field encryption ----------------------------------------------------

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Self-describing token: version, KEK id, nonce, ciphertext+tag."""
        header = bytes([_TOKEN_VERSION]) + self.active.id.encode("ascii")
        return header + _encrypt(self.active.key, plaintext, header + aad)

    def open_many(self, items: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
        """`open` for many (token, aad) pairs: a list's worth of fields, with the key
        lookups done once per key rather than once per value."""
        ciphers: dict[bytes, AESGCM] = {}
        out = []
        header_length = 1 + KEK_ID_LENGTH
        for token, aad in items:
            header = token[:header_length]
            aead = ciphers.get(header)
            if aead is None:
                aead = ciphers[header] = self.get(token_kek_id(token)).aead
            out.append(_decrypt(aead, token[header_length:], header + aad))
        return out

    def open(self, token: bytes, aad: bytes) -> bytes:
        kek_id, header = token_kek_id(token), token[: 1 + KEK_ID_LENGTH]
        return _decrypt(self.get(kek_id).aead, token[len(header) :], header + aad)


def token_kek_id(token: bytes) -> str:
    if len(token) < 1 + KEK_ID_LENGTH + NONCE_BYTES + 16 or token[0] != _TOKEN_VERSION:
        raise IntegrityError("not an econsult sealed value")
    return token[1 : 1 + KEK_ID_LENGTH].decode("ascii", errors="replace")


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(aead: AESGCM, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise IntegrityError("ciphertext too short")
    try:
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityError("ciphertext failed its integrity check") from None


# --- where keys live ---------------------------------------------------------


def parse_master_key(value: str) -> Keyring:
    """ECONSULT_MASTER_KEY: base64 KEKs separated by commas, the first one active."""
    keks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            raw = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError("ECONSULT_MASTER_KEY is not valid base64") from None
        keks.append(Kek.from_bytes(raw))
    if not keks:
        raise KeyringError("ECONSULT_MASTER_KEY is empty")
    return Keyring(keks[0], keks[1:])


def load_key_file(path: Path) -> Keyring:
    try:
        doc = json.loads(path.read_text())
        keks = [Kek.from_bytes(base64.b64decode(k)) for k in doc["keys"]]
        active_id = doc["active"]
    except FileNotFoundError:
        raise KeyringError(f"key file {path} not found: run `econsult migrate` first") from None
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise KeyringError(f"key file {path} is malformed: {exc}") from None
    by_id = {k.id: k for k in keks}
    if active_id not in by_id:
        raise KeyringError(f"key file {path} names an active KEK it does not hold")
    return Keyring(by_id[active_id], keks)


def save_key_file(path: Path, keyring: Keyring) -> None:
    """Write atomically with mode 0600 from the first byte (never world-readable)."""
    _write_key_file(path, keyring, replace=True)


def ensure_key_file(path: Path) -> bool:
    """Create a key file with one fresh KEK if none exists; True when created.

    Two `econsult migrate` runs racing on a shared data directory must not each make
    a key and have the second silently replace the first (data sealed under the lost
    key could never be read again), so the file is put in place with link(), which
    refuses an existing name, rather than rename(), which overwrites it."""
    if path.exists():
        return False
    return _write_key_file(path, Keyring(Kek.from_bytes(new_key())), replace=False)


def _write_key_file(path: Path, keyring: Keyring, *, replace: bool) -> bool:
    doc = {
        "version": _KEY_FILE_VERSION,
        "active": keyring.active_id,
        "keys": [base64.b64encode(keyring.get(i).key).decode() for i in keyring.ids],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_private(path, json.dumps(doc, indent=1).encode(), replace=replace)


def load_keyring(master_key: str | None, key_file: Path) -> Keyring:
    return parse_master_key(master_key) if master_key else load_key_file(key_file)
