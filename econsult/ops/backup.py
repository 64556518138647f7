"""`econsult backup` and `econsult restore`: a consistent online copy of the database and
of the image blobs it references, and its restore into an empty data directory.

Consistency: the database is copied with SQLite's online backup API in a single step,
so inside one read transaction; in WAL mode that is a snapshot writers never wait for.
The blobs copied are exactly those named by the consult_images, draft_images and
consult_attachments rows *of that snapshot*
(read from the copy, not the live file). A submission writes its blobs before it
commits its row, so every row in the snapshot has its blobs on disk; blobs written
after the snapshot are left out, and so are their rows.

manifest.json is written last: a directory without one is not a backup, and restore
refuses it. Restore checks every hash before it writes anything.

The keys are NOT in the backup: the key file (or ECONSULT_MASTER_KEY) must be kept
apart from it, and be in place before a restore, which refuses to run without every KEK
the backup needs. PostgreSQL is refused: use pg_dump, then copy the blob store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url

from econsult.config import Settings
from econsult.db.files import private_dir, private_sqlite_file
from econsult.errors import DomainError
from econsult.images.envelope import ATTACHMENT_KIND, KINDS
from econsult.images.store import BlobExists, BlobNotFound, FilesystemBlobStore
from econsult.security.keyring import KeyringError, load_keyring
from econsult.security.private_files import write_private

FORMAT = 1
MANIFEST = "manifest.json"
DB_NAME = "econsult.db"
BLOBS = "blobs"
_COPY_CONCURRENCY = 8
_T = TypeVar("_T")
_COUNTED = ("users", "consults", "consult_events", "messages", "consult_images", "audit_events")


class BackupError(DomainError):
    code = "backup"


@dataclass(frozen=True)
class BackupReport:
    dest: Path
    counts: dict[str, int]
    blobs: int
    bytes: int
    schema_revision: str | None
    kek_ids: list[str]


@dataclass(frozen=True)
class RestoreReport:
    counts: dict[str, int]
    blobs: int
    schema_revision: str | None


def _sqlite_path(settings: Settings, verb: str) -> Path:
    if not settings.is_sqlite:
        raise BackupError(
            f"`econsult {verb}` handles the embedded SQLite database only. On PostgreSQL "
            "use pg_dump --format=custom (and pg_restore), then copy the blob store "
            f"({settings.blob_dir}) AFTER the dump finishes, so every row has its blobs."
        )
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to copy")
    return Path(database)


# --- backup -------------------------------------------------------------------------


async def backup(settings: Settings, dest: Path) -> BackupReport:
    source = _sqlite_path(settings, "backup")
    if not source.is_file():
        raise BackupError(f"no database at {source}: nothing to back up")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} is not empty: back up into a new directory")
    private_dir(dest)
    db_copy = dest / DB_NAME
    await asyncio.to_thread(_snapshot, source, db_copy)
    keys, counts, revision, kek_ids = await asyncio.to_thread(_inventory, db_copy)
    live = FilesystemBlobStore(settings.blob_dir)
    out = FilesystemBlobStore(dest / BLOBS)
    hashes, missing, total = await _copy_blobs(live, out, keys)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise BackupError(
            f"{len(missing)} blobs named by the database are missing from {settings.blob_dir} "
            f"({shown}); {dest} is incomplete and has no manifest. Run `econsult images "
            "verify` to see which images are affected.")
    db_hash, db_bytes = await asyncio.to_thread(_sha256_file, db_copy)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "schema_revision": revision,
        "counts": counts,
        "kek_ids": kek_ids,
        "database": {"path": DB_NAME, "sha256": db_hash, "bytes": db_bytes},
        "blobs": hashes,
        "keys_included": False,
    }
    await asyncio.to_thread(_write_atomic, dest / MANIFEST,
                            json.dumps(manifest, indent=1, sort_keys=True).encode())
    return BackupReport(dest, counts, len(hashes), total + db_bytes, revision, kek_ids)


def _snapshot(source: Path, target: Path) -> None:
    src = sqlite3.connect(source, timeout=10)
    private_sqlite_file(target)  # the copy holds everything the live database does
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)  # pages=-1: one step, so one read transaction, so one snapshot
        # A self-contained file: no -wal beside it (the server turns WAL back on).
        dst.execute("PRAGMA journal_mode=DELETE")
        problem = dst.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"the copied database fails its integrity check: {problem}")
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    _fsync(target)


def _inventory(db: Path) -> tuple[list[str], dict[str, int], str | None, list[str]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        # Photos of consults, and those uploaded into drafts not sent yet.
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM consult_images UNION SELECT id FROM draft_images ORDER BY id")]
        keys = [f"{image_id}.{kind}" for image_id in ids for kind in KINDS]
        # PDF attachments: one blob each (the table exists from migration 0009 on).
        has_attachments = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                       "AND name = 'consult_attachments'").fetchone()
        attachment_ids = [row[0] for row in conn.execute(
            "SELECT id FROM consult_attachments ORDER BY id")] if has_attachments else []
        keys += [f"{a}.{ATTACHMENT_KIND}" for a in attachment_ids]
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                  for t in _COUNTED}
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        keks = {row[0] for row in conn.execute(
            "SELECT kek_id FROM consult_images UNION SELECT kek_id FROM draft_images")}
        if has_attachments:
            keks.update(row[0] for row in conn.execute(
                "SELECT DISTINCT kek_id FROM consult_attachments"))
        keks.update(row[0] for row in conn.execute("SELECT id FROM keks WHERE retired_at IS NULL"))
    finally:
        conn.close()
    return keys, counts, revision[0] if revision else None, sorted(keks)


async def _copy_blobs(live: FilesystemBlobStore, out: FilesystemBlobStore,
                      keys: list[str]) -> tuple[dict[str, str], list[str], int]:
    hashes: dict[str, str] = {}
    missing: list[str] = []
    total = 0

    async def one(key: str) -> None:
        nonlocal total
        try:
            data = await live.get(key)
        except BlobNotFound:
            missing.append(key)
            return
        hashes[key] = await asyncio.to_thread(_sha256, data)
        await out.put(key, data)
        total += len(data)

    await _each(keys, one)
    return dict(sorted(hashes.items())), sorted(missing), total


async def _each(items: Iterable[_T], work: Callable[[_T], Awaitable[None]]) -> None:
    """`work` on every item, a few at a time (file I/O runs in threads), without a task
    per item: a store can hold millions of blobs."""
    source = iter(items)

    async def worker() -> None:
        for item in source:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(_COPY_CONCURRENCY)))


# --- restore ------------------------------------------------------------------------


async def restore(settings: Settings, src: Path) -> RestoreReport:
    target = _sqlite_path(settings, "restore")
    manifest = _read_manifest(src)
    for path in (target, Path(f"{target}-wal")):
        if path.exists():
            raise BackupError(f"refusing to overwrite the database at {path}: restore into an "
                              "empty data directory (set ECONSULT_DATA_DIR)")
    _check_keys(settings, manifest)
    source_blobs = FilesystemBlobStore(src / BLOBS)
    blobs: dict[str, str] = manifest["blobs"]
    database = manifest["database"]
    db_file = src / str(database["path"])
    bad = await asyncio.to_thread(_verify_files, db_file, database["sha256"], source_blobs, blobs)
    if bad:
        shown = "; ".join(bad[:5]) + ("; ..." if len(bad) > 5 else "")
        raise BackupError(f"the backup at {src} fails its manifest ({len(bad)} files): "
                          f"{shown}. Nothing was restored.")
    private_dir(settings.data_dir)
    await _restore_blobs(source_blobs, FilesystemBlobStore(settings.blob_dir), blobs)
    # The database goes in last: once it is there, the restore is complete.
    await asyncio.to_thread(_install_database, db_file, target)
    return RestoreReport(dict(manifest.get("counts", {})), len(blobs),
                         manifest.get("schema_revision"))


def _read_manifest(src: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{src} has no {MANIFEST}: it is not a complete backup") from None
    except ValueError as exc:
        raise BackupError(f"{src / MANIFEST} is malformed: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src / MANIFEST} is not a format {FORMAT} econsult backup manifest")
    return manifest


def _check_keys(settings: Settings, manifest: dict[str, Any]) -> None:
    try:
        keyring = load_keyring(settings.master_key, settings.key_file)
    except KeyringError as exc:
        raise BackupError(f"the keys are not part of the backup; put the key file at "
                          f"{settings.key_file} or set ECONSULT_MASTER_KEY first ({exc})") from None
    missing = sorted(set(manifest.get("kek_ids", [])) - set(keyring.ids))
    if missing:
        raise BackupError(f"the keyring lacks KEK(s) {', '.join(missing)} that this backup's "
                          "data is sealed under: restore the key file that goes with it")


def _verify_files(db_file: Path, db_hash: str, store: FilesystemBlobStore,
                  blobs: dict[str, str]) -> list[str]:
    bad = []
    try:
        if _sha256_file(db_file)[0] != db_hash:
            bad.append(f"{db_file.name}: sha256 differs")
    except FileNotFoundError:
        bad.append(f"{db_file.name}: missing")
    for key, digest in blobs.items():
        try:
            if _sha256(store.path_for(key).read_bytes()) != digest:
                bad.append(f"blob {key}: sha256 differs")
        except FileNotFoundError:
            bad.append(f"blob {key}: missing")
    return bad


async def _restore_blobs(source: FilesystemBlobStore, target: FilesystemBlobStore,
                         blobs: dict[str, str]) -> None:
    async def one(item: tuple[str, str]) -> None:
        key, digest = item
        data = await source.get(key)
        try:
            await target.put(key, data)
        except BlobExists:  # left by an interrupted restore: fine if it is the same
            if _sha256(await target.get(key)) != digest:
                raise BackupError(f"{target.path_for(key)} already exists with other "
                                  "content: restore into an empty data directory") from None

    await _each(blobs.items(), one)


def _install_database(source: Path, target: Path) -> None:
    def chunks() -> Iterator[bytes]:
        with source.open("rb") as reader:
            while chunk := reader.read(1 << 20):
                yield chunk

    # Created, never replaced: a database that appeared meanwhile is not overwritten.
    if not write_private(target, chunks(), replace=False):
        raise BackupError(f"a database appeared at {target} during the restore")


# --- files --------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_atomic(path: Path, data: bytes) -> None:
    write_private(path, data, replace=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
