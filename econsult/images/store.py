"""Where encrypted image blobs live: a small async interface and a filesystem store.

The filesystem store writes atomically and owner-only (econsult.security.private_files),
so a reader or a crash never sees half a blob, and spreads
files over two levels of directories keyed by a hash of the key so no directory grows
past a few thousand entries. Blocking file I/O runs in a thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path
from typing import Protocol

from econsult.security.private_files import (
    TEMP_SUFFIX,
    fsync_dir,
    make_private_dirs,
    write_private,
)

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class BlobNotFound(KeyError):
    """No blob is stored under this key."""


class BlobExists(Exception):
    """`put` refuses to overwrite: keys are written once (rotation uses `replace`)."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store a new blob; BlobExists if the key is taken."""

    async def replace(self, key: str, data: bytes) -> None:
        """Atomically overwrite an existing blob; BlobNotFound if there is none."""

    async def get(self, key: str) -> bytes:
        """The blob's bytes; BlobNotFound if missing."""

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error (GC and rollbacks may race)."""

    async def exists(self, key: str) -> bool: ...

    async def list_keys(self) -> list[str]:
        """Every stored key (order unspecified); for garbage collection and verification."""

    async def age_seconds(self, key: str) -> float:
        """Seconds since the blob was last written; GC spares young blobs whose DB row
        may not be committed yet."""


def validate_key(key: str) -> str:
    """Keys are plain names (e.g. '<uuid>.original'): no separators, no leading dot."""
    if not isinstance(key, str) or not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class FilesystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(validate_key(key).encode()).hexdigest()
        return self.root / digest[:2] / digest[2:4] / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, bytes(data), False)

    async def replace(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, key, bytes(data), True)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def list_keys(self) -> list[str]:
        return await asyncio.to_thread(self._list)

    async def age_seconds(self, key: str) -> float:
        return await asyncio.to_thread(self._age, key)

    async def remove_stale_temp_files(self, older_than_seconds: float = 3600) -> int:
        """Delete temp files a crashed writer left behind; returns how many."""
        return await asyncio.to_thread(self._sweep, older_than_seconds)

    # --- blocking parts, run in a thread -----------------------------------------

    def _write(self, key: str, data: bytes, overwrite: bool) -> None:
        final = self.path_for(key)
        if overwrite and not final.is_file():
            raise BlobNotFound(key)
        make_private_dirs(final.parent, stop_at=self.root)
        if not write_private(final, data, replace=overwrite):
            raise BlobExists(key)

    def _read(self, key: str) -> bytes:
        try:
            return self.path_for(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def _delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(path.parent)

    def _age(self, key: str) -> float:
        try:
            mtime = self.path_for(key).stat().st_mtime
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return max(0.0, time.time() - mtime)

    def _list(self) -> list[str]:
        return [path.name for path in self._files() if not path.name.startswith(".")]

    def _sweep(self, older_than: float) -> int:
        now, removed = time.time(), 0
        for path in self._files():
            if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX):
                try:
                    if now - path.stat().st_mtime >= older_than:
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    continue
        return removed

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        files: list[Path] = []
        for top in _subdirs(self.root):
            for second in _subdirs(top):
                files.extend(entry for entry in second.iterdir() if entry.is_file())
        return files


def _subdirs(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if len(p.name) == 2 and p.is_dir()]


