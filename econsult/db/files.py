"""The data directory and the SQLite files in it: owner-only from the first byte.

SQLite creates a database with the process's umask (often 0644) and gives its -wal and
-shm files the mode of the database file, so the file is made here, 0600, before SQLite
first opens it, and the data directory is kept 0700. Every path that makes a database
file (the server, `econsult migrate`, a backup's copy, a restore) goes through
`private_sqlite_file`. (Blobs, keys and checkpoints use `security.private_files`.)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(directory: Path) -> None:
    """Create `directory` (and missing parents) 0700; an existing one is made 0700."""
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
    # mkdir's mode is masked by the umask, and a directory made earlier keeps its mode.
    with contextlib.suppress(PermissionError):
        os.chmod(directory, DIR_MODE)


def private_sqlite_file(path: Path) -> None:
    """Make sure the database file at `path` exists mode 0600 in a 0700 directory (its
    existing -wal/-shm/-journal files too), before SQLite opens it."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", FILE_MODE)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)
