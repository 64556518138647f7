"""Writing files that hold secrets or patient data: atomically and owner-only.

Every such write (a photo blob, the key file, a backup's manifest or database, an audit
checkpoint) goes through `write_private`: the bytes go to a temporary file created
0600 in the target's own directory (whatever the umask), are fsynced, and the file is
then put in place in one step, and the directory fsynced, so neither a reader nor a
crash ever sees half a file. To create (`replace=False`) the file is linked into place:
link() refuses an existing name where rename() would silently let a second writer win,
which for a key file would lose the key data was sealed with.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"


def write_private(path: Path, data: bytes | Iterable[bytes], *, replace: bool) -> bool:
    """Put `data` at `path` (mode 0600). With `replace`, an existing file is replaced;
    without, an existing file is left alone and False is returned. True once written
    and durable."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask: owner-only
            for chunk in (data,) if isinstance(data, bytes | bytearray) else data:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        elif not _link(tmp, path):
            return False
    finally:
        tmp.unlink(missing_ok=True)  # never leave a stray copy of a secret behind
    fsync_dir(path.parent)
    return True


def _link(tmp: Path, path: Path) -> bool:
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # A filesystem without hard links: narrow the race, at least.
        if path.exists():
            return False
        os.replace(tmp, path)
    return True


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems (e.g. certain network mounts) refuse
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def make_private_dirs(directory: Path, *, stop_at: Path | None = None) -> None:
    """Create `directory` and any missing parents (up to `stop_at`) mode 0700, fsyncing
    each parent that gained an entry."""
    missing = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current == stop_at or current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        fsync_dir(path.parent)
