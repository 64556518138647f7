"""SQLite as configured: pragmas in force, and one writer at a time without lost updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncSession

from econsult.config import Settings
from econsult.db import BUSY_TIMEOUT_MS, Database


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    if not settings.is_sqlite:
        pytest.skip("SQLite pragmas and locking; PostgreSQL handles its own concurrency")
    db = Database.from_settings(settings)
    yield db
    await db.dispose()


async def _pragmas(session: AsyncSession) -> dict[str, object]:
    names = ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    return {n: (await session.execute(text(f"PRAGMA {n}"))).scalar_one() for n in names}


async def test_pragmas_on_the_read_and_the_write_engine(database: Database) -> None:
    expected = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1,
                "busy_timeout": BUSY_TIMEOUT_MS}
    async with database.read() as session:
        assert await _pragmas(session) == expected
        assert (await session.execute(text("PRAGMA mmap_size"))).scalar_one() > 0
    async with database.write() as session:
        assert await _pragmas(session) == expected
    # The loop reader and the writer thread are configured alike.
    rows = await database.fetch(text("SELECT 1"))
    assert rows[0][0] == 1
    reader = database._loop_reader
    assert reader is not None and reader._conn is not None
    raw = reader._conn.exec_driver_sql
    assert {n: raw(f"PRAGMA {n}").scalar_one() for n in expected} == expected

    def writer_pragmas(conn: Connection) -> dict[str, object]:
        return {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar_one() for n in expected}

    assert database._thread_writer is not None
    assert await database._thread_writer.run(writer_pragmas) == expected
    # The loop's writer never waits for the lock (it hands over to the thread instead).
    assert await database.run_write(writer_pragmas) == {**expected, "busy_timeout": 0}


async def test_foreign_keys_are_enforced(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with database.write() as session:
            await session.execute(text("INSERT INTO user_specialties (user_id, specialty) "
                                       "VALUES (999999, 'dermatology')"))


async def test_write_rolls_back_when_the_block_raises(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.write() as session:
            await session.execute(text("UPDATE specialties SET open_cap=77"))
            raise RuntimeError("boom")
    async with database.read() as session:
        caps = set((await session.execute(text("SELECT open_cap FROM specialties"))).scalars())
    assert 77 not in caps


async def _increment(db: Database) -> None:
    async with db.write() as session:
        value = (await session.execute(text(
            "SELECT open_cap FROM specialties WHERE slug='dermatology'"))).scalar_one()
        for _ in range(3):
            await asyncio.sleep(0)  # let every other task run between the read and the write
        await session.execute(text("UPDATE specialties SET open_cap=:v WHERE slug='dermatology'"),
                              {"v": value + 1})


async def _reset(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("UPDATE specialties SET open_cap=0 WHERE slug='dermatology'"))


async def _count(db: Database) -> int:
    async with db.read() as session:
        value = (await session.execute(text(
            "SELECT open_cap FROM specialties WHERE slug='dermatology'"))).scalar_one()
    return int(value)


async def test_concurrent_read_then_write_loses_no_update(database: Database) -> None:
    await _reset(database)
    results = await asyncio.gather(*(_increment(database) for _ in range(20)),
                                   return_exceptions=True)
    assert [r for r in results if r is not None] == []  # no "database is locked"
    assert await _count(database) == 20


async def test_two_processes_on_one_file_lose_no_update(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("SQLite locking")
    first, second = Database(settings.database_url), Database(settings.database_url)
    try:
        await _reset(first)
        tasks = [_increment(db) for _ in range(10) for db in (first, second)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [r for r in results if r is not None] == []
        assert await _count(first) == 20
        assert await _count(second) == 20
    finally:
        await first.dispose()
        await second.dispose()


async def test_readers_are_not_blocked_by_an_open_write(database: Database) -> None:
    await _reset(database)
    async with database.write() as session:
        await session.execute(text("UPDATE specialties SET open_cap=5 WHERE slug='dermatology'"))
        # WAL: a reader sees the last committed state without waiting for the writer.
        assert await asyncio.wait_for(_count(database), timeout=5) == 0
    assert await _count(database) == 5
