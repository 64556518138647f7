"""Where encrypted image blobs live: a small async interface and a filesystem store.

The filesystem store writes atomically (temp file in the target directory, fsync,
rename, directory fsync), so a reader or a crash never sees half a blob, and spreads
files over two levels of directories keyed by a hash of the key so no directory grows
past a few thousand entries. Blocking file I/O runs in a thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TEMP_SUFFIX = ".tmp"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


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
        _make_dirs(final.parent, self.root)
        tmp = final.with_name(f".{key}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            try:
                os.fchmod(fd, _FILE_MODE)  # whatever the umask: owner-only
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, final)
            else:
                # link() fails if the name exists, so two writers cannot both "create"
                # the same key; rename() would silently let the second one win.
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    raise BlobExists(key) from None
                os.unlink(tmp)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

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
        _fsync_dir(path.parent)

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
            if path.name.startswith(".") and path.name.endswith(_TEMP_SUFFIX):
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


def _make_dirs(directory: Path, root: Path) -> None:
    """Create the fan-out directories (0700), fsyncing each parent that gained an entry."""
    missing = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current == root or current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=_DIR_MODE)
        except FileExistsError:
            continue
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems (e.g. certain network mounts) refuse
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
