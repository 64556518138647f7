"""Database.fetch (short reads) and Database.run_write (whole Core transactions in one
hand-off): same answers as the session API, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, text

from econsult.db import Database

_CAP = text("SELECT open_cap FROM specialties WHERE slug = :slug")


async def _cap(db: Database) -> int:
    rows = await db.fetch(_CAP, {"slug": "dermatology"})
    return int(rows[0][0])


def _set_cap(value: int) -> Any:
    def work(conn: Connection) -> int:
        conn.execute(text("UPDATE specialties SET open_cap = :v WHERE slug = 'dermatology'"),
                     {"v": value})
        return value
    return work


async def test_fetch_reads_what_a_write_committed(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("UPDATE specialties SET open_cap=11 WHERE slug='dermatology'"))
    assert await _cap(db) == 11
    assert await db.run_write(_set_cap(12)) == 12
    assert await _cap(db) == 12


async def test_fetch_takes_bound_parameters_and_returns_every_row(db: Database) -> None:
    statement = text("SELECT slug FROM specialties WHERE slug IN :slugs ORDER BY slug"
                     ).bindparams(bindparam("slugs", expanding=True))
    rows = await db.fetch(statement, {"slugs": ["dermatology", "cardiology", "nowhere"]})
    assert [r.slug for r in rows] == ["cardiology", "dermatology"]


async def test_fetch_does_not_see_an_uncommitted_write(db: Database) -> None:
    before = await db.run_write(_set_cap(3))
    async with db.write() as session:
        await session.execute(text("UPDATE specialties SET open_cap=99 WHERE slug='dermatology'"))
        # A reader on the loop's own connection gets the last committed state at once.
        assert await asyncio.wait_for(_cap(db), timeout=5) == before
    assert await _cap(db) == 99


async def test_run_write_rolls_back_when_the_work_raises(db: Database) -> None:
    before = await db.run_write(_set_cap(4))

    def work(conn: Connection) -> None:
        _set_cap(before + 40)(conn)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.run_write(work)
    assert await _cap(db) == before


async def test_run_write_and_session_writers_lose_no_update(db: Database) -> None:
    """The writer thread and the write engine are two SQLite writers; BEGIN IMMEDIATE
    on both serialises their read-modify-write transactions. (PostgreSQL's read
    committed would need SELECT ... FOR UPDATE, which the code uses where it matters.)"""
    if not db.is_sqlite:
        pytest.skip("SQLite's writer lock")
    await db.run_write(_set_cap(0))

    def bump(conn: Connection) -> None:
        value = conn.execute(_CAP, {"slug": "dermatology"}).scalar_one()
        conn.execute(text("UPDATE specialties SET open_cap = :v WHERE slug = 'dermatology'"),
                     {"v": value + 1})

    async def bump_in_session() -> None:
        async with db.write() as session:
            value = (await session.execute(_CAP, {"slug": "dermatology"})).scalar_one()
            await asyncio.sleep(0)
            await session.execute(text(
                "UPDATE specialties SET open_cap = :v WHERE slug = 'dermatology'"),
                {"v": value + 1})

    await asyncio.gather(*(db.run_write(bump) for _ in range(15)),
                         *(bump_in_session() for _ in range(15)))
    assert await _cap(db) == 30


async def test_run_write_goes_to_the_writer_thread_while_the_lock_is_taken(
    db: Database,
) -> None:
    """On the loop, run_write never waits for SQLite's write lock: with another
    connection writing, the work runs on the writer thread, once, after that write."""
    if not db.is_sqlite:
        pytest.skip("SQLite's writer lock")
    await db.run_write(_set_cap(1))
    threads: list[int] = []

    def bump(conn: Connection) -> int:
        threads.append(threading.get_ident())
        value = conn.execute(_CAP, {"slug": "dermatology"}).scalar_one()
        conn.execute(text("UPDATE specialties SET open_cap = :v WHERE slug = 'dermatology'"),
                     {"v": value + 1})
        return int(value) + 1

    assert await db.run_write(bump) == 2  # lock free: on the loop's own thread
    assert threads == [threading.get_ident()]
    async with db.write() as session:  # hold the write lock
        await session.execute(text("UPDATE specialties SET open_cap = open_cap + 10 "
                                   "WHERE slug = 'dermatology'"))
        pending = asyncio.ensure_future(db.run_write(bump))
        await asyncio.sleep(0.2)
        assert not pending.done()  # waiting on the writer thread, not failing
    assert await asyncio.wait_for(pending, 10) == 13
    assert len(threads) == 2 and threads[1] != threading.get_ident()
    assert await _cap(db) == 13


async def test_fetch_from_another_thread_takes_the_async_path(db: Database) -> None:
    """sqlite3 connections belong to their thread: once the loop reader is open here,
    a call from any other thread goes through the read engine instead."""
    if not db.is_sqlite:
        pytest.skip("the loop reader is SQLite's")
    await db.fetch(_CAP, {"slug": "dermatology"})
    reader = db._loop_reader
    assert reader is not None and reader.usable_here()
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(reader.usable_here()))
    thread.start()
    thread.join(10)
    assert seen == [False]
