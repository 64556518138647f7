"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint says: at time T the chain held COUNT entries, the newest being entry
LAST_ID with hash LAST_HASH. It is signed with an HMAC under a key derived from a KEK
(the keyring lives outside the database too), and appended, one JSON object a line,
to `audit-checkpoints` in the data directory (0600). `audit.verify` checks that the
chain still holds each checkpoint's entry at its position, so deleting the newest rows
and rewinding the head, or wiping the log, is detected for everything up to the
newest checkpoint. Copy the file (or the printed line) somewhere the database's owner
cannot write to make it stronger still.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from econsult.security.keyring import Kek, Keyring, KeyringError
from econsult.security.private_files import FILE_MODE, write_private

FILE_NAME = "audit-checkpoints"
_LABEL = b"econsult audit checkpoint v1"


class CheckpointError(Exception):
    """The checkpoint file was altered, or names a key the keyring does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    at: datetime
    count: int
    last_id: int
    last_hash: str
    kek: str
    sig: str

    def line(self) -> str:
        return json.dumps({"at": self.at.isoformat(), "count": self.count,
                           "last_id": self.last_id, "last_hash": self.last_hash,
                           "kek": self.kek, "sig": self.sig}, sort_keys=True)


def _payload(at: datetime, count: int, last_id: int, last_hash: str) -> bytes:
    return f"{at.isoformat()}\n{count}\n{last_id}\n{last_hash}".encode()


def _sign(kek: Kek, payload: bytes) -> str:
    key = hmac.new(kek.key, _LABEL, hashlib.sha256).digest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def sign(keyring: Keyring, *, at: datetime, count: int, last_id: int, last_hash: str
         ) -> Checkpoint:
    kek = keyring.active
    return Checkpoint(at, count, last_id, last_hash, kek.id,
                      _sign(kek, _payload(at, count, last_id, last_hash)))


def resign(keyring: Keyring, checkpoint: Checkpoint) -> Checkpoint:
    return sign(keyring, at=checkpoint.at, count=checkpoint.count,
                last_id=checkpoint.last_id, last_hash=checkpoint.last_hash)


def check(keyring: Keyring, checkpoint: Checkpoint) -> None:
    try:
        kek = keyring.get(checkpoint.kek)
    except KeyringError:
        raise CheckpointError(f"the checkpoint of {checkpoint.at.isoformat()} is signed "
                              f"under KEK {checkpoint.kek}, which is not in the keyring"
                              ) from None
    expected = _sign(kek, _payload(checkpoint.at, checkpoint.count, checkpoint.last_id,
                                   checkpoint.last_hash))
    if not hmac.compare_digest(expected, checkpoint.sig):
        raise CheckpointError(f"the checkpoint of {checkpoint.at.isoformat()} has a bad "
                              "signature: the checkpoint file was altered")


def parse(text: str) -> list[Checkpoint]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
            at = datetime.fromisoformat(doc["at"])
            out.append(Checkpoint(at, int(doc["count"]), int(doc["last_id"]),
                                  str(doc["last_hash"]), str(doc["kek"]), str(doc["sig"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"line {number} of the checkpoint file is malformed "
                                  f"({exc})") from None
    return out


def read(path: Path, keyring: Keyring) -> list[Checkpoint]:
    """Every checkpoint in the file (none if there is no file), each signature checked."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    checkpoints = parse(text)
    for checkpoint in checkpoints:
        check(keyring, checkpoint)
    return checkpoints


class _Locked:
    """An exclusive lock beside the file, so that a scheduled checkpoint in the server
    and one from the command line never lose each other's line."""

    def __init__(self, path: Path) -> None:
        self._path = path.with_name(f".{path.name}.lock")
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Add one line to the file (written whole, atomically, 0600)."""
    with _Locked(path):
        try:
            existing = path.read_bytes()
        except FileNotFoundError:
            existing = b""
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"
        write_private(path, existing + checkpoint.line().encode() + b"\n", replace=True)


def rewrite(path: Path, checkpoints: list[Checkpoint]) -> None:
    """Replace the file's lines (re-signed after a key rotation)."""
    with _Locked(path):
        write_private(path, "".join(c.line() + "\n" for c in checkpoints).encode(),
                      replace=True)
