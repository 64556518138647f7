"""The database, its WAL and SHM files, backups and audit checkpoints are created 0600,
inside a 0700 data directory, whatever the umask says."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from econsult.config import Settings
from econsult.db import Database
from econsult.ops import audit_keys
from econsult.ops.backup import backup, restore
from econsult.ops.migrate import migrate
from econsult.security import audit
from econsult.security.audit import Actor


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what most systems run with: files 0644, directories 0755
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _write_some(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    async with db.write() as session:
        await audit.append(session, actor=Actor(None, "test"), action="test.write",
                           at=datetime.now(UTC))
    return db


async def test_database_wal_shm_and_checkpoints_are_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "srv" / "var")
    await migrate(settings)
    db = await _write_some(settings)
    try:
        async with db.read() as session:  # keep a reader open: the -wal/-shm exist now
            await session.execute(text("SELECT 1 FROM audit_events"))
            data = settings.data_dir
            assert mode(data) == 0o700
            for name in ("econsult.db", "econsult.db-wal", "econsult.db-shm", "keys.json"):
                assert (data / name).exists(), name
                assert mode(data / name) == 0o600, name
            await audit_keys.checkpoint(db, settings, datetime.now(UTC))
            assert mode(data / "audit-checkpoints") == 0o600
            leftovers = [p.name for p in data.iterdir() if p.name.startswith(".audit")]
            assert all(mode(data / n) == 0o600 for n in leftovers)
    finally:
        await db.dispose()


async def test_an_existing_loose_data_dir_and_database_are_tightened(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    settings = Settings(data_dir=data)
    await migrate(settings)
    os.chmod(data / "econsult.db", 0o644)
    db = await _write_some(settings)
    await db.dispose()
    assert mode(data) == 0o700 and mode(data / "econsult.db") == 0o600


async def test_backups_and_restores_are_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    await migrate(settings)
    await (await _write_some(settings)).dispose()
    dest = tmp_path / "backups" / "monday"
    await backup(settings, dest)
    assert mode(dest) == 0o700
    for path in dest.rglob("*"):
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    target = Settings(data_dir=tmp_path / "restored", master_key=None)
    target.data_dir.mkdir(mode=0o755)
    (target.data_dir / "keys.json").write_bytes(settings.key_file.read_bytes())
    os.chmod(target.data_dir / "keys.json", 0o600)
    await restore(target, dest)
    assert mode(target.data_dir) == 0o700
    assert mode(target.data_dir / "econsult.db") == 0o600
