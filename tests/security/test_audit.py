"""The audit chain from the attacker's side: edit, delete, truncate, reorder."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http.state import app_state
from econsult.security import audit
from econsult.security.audit import Actor, GroupRecorder


async def _write(db: Database, clock: ManualClock, n: int) -> None:
    for i in range(n):
        clock.advance(timedelta(seconds=1))
        async with db.write() as session:
            await audit.append(session, actor=Actor(1, "gp@example.org", "10.0.0.1"),
                               action="consult.view", at=clock.now(), object_type="consult",
                               object_id=f"c{i}")


async def _verify(db: Database) -> audit.VerifyResult:
    async with db.read() as session:
        return await audit.verify(session)


async def test_intact_chain_verifies(db: Database, clock: ManualClock) -> None:
    assert (await _verify(db)).ok
    await _write(db, clock, 5)
    result = await _verify(db)
    assert result.ok and result.rows == 5


async def test_edited_row_is_named(db: Database, clock: ManualClock) -> None:
    await _write(db, clock, 5)
    async with db.write() as session:
        await session.execute(text("UPDATE audit_events SET object_id = 'other' WHERE id = 3"))
    result = await _verify(db)
    assert not result.ok and result.broken_id == 3


async def test_edited_timestamp_is_caught(db: Database, clock: ManualClock) -> None:
    await _write(db, clock, 3)
    async with db.write() as session:
        row = (await session.execute(text("SELECT id FROM audit_events ORDER BY id"))).all()[1]
        await session.execute(text(
            "UPDATE audit_events SET actor_email = 'someone@else' WHERE id = :id"), {"id": row[0]})
    assert (await _verify(db)).broken_id == row[0]


async def test_deleted_middle_row_breaks_the_next_link(db: Database, clock: ManualClock) -> None:
    await _write(db, clock, 5)
    async with db.write() as session:
        await session.execute(text("DELETE FROM audit_events WHERE id = 2"))
    result = await _verify(db)
    assert not result.ok and result.broken_id == 3


async def test_truncated_tail_is_caught_by_the_head(db: Database, clock: ManualClock) -> None:
    await _write(db, clock, 5)
    async with db.write() as session:
        await session.execute(text("DELETE FROM audit_events WHERE id >= 4"))
    result = await _verify(db)
    assert not result.ok and result.broken_id == 5


async def test_recomputing_one_row_hash_still_breaks_the_next(db: Database,
                                                              clock: ManualClock) -> None:
    """An attacker who edits a row and fixes its own hash breaks the next row's link."""
    await _write(db, clock, 4)
    async with db.write() as session:
        await session.execute(text("UPDATE audit_events SET hash = :h WHERE id = 2"),
                              {"h": "f" * 64})
    result = await _verify(db)
    assert not result.ok and result.broken_id == 2


async def test_rows_hold_no_secrets(db: Database, clock: ManualClock) -> None:
    await _write(db, clock, 1)
    async with db.read() as session:
        cols = (await session.execute(text("SELECT * FROM audit_events"))).keys()
    assert set(cols) == {"id", "at", "actor_id", "actor_email", "action", "object_type",
                         "object_id", "client_addr", "outcome", "detail", "prev_hash", "hash",
                         "mac", "mac_kek"}


async def _entries(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.execute(text(
            "SELECT action, object_id FROM audit_events ORDER BY id"))).all()
    return [(r[0], r[1]) for r in rows]


@pytest.fixture
def recorder(app: Starlette) -> GroupRecorder:
    return app_state(app).audit


async def test_recorded_entries_are_committed_before_record_returns(
    db: Database, clock: ManualClock, recorder: GroupRecorder
) -> None:
    await recorder.record(actor=Actor(1, "gp@example.org"), action="consult.view",
                       at=clock.now(), object_type="consult", object_id="c1")
    assert await _entries(db) == [("consult.view", "c1")]
    assert (await _verify(db)).ok


async def test_concurrent_records_share_commits_and_keep_the_chain(
    db: Database, clock: ManualClock, recorder: GroupRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real = audit.append_rows

    def counting(conn: Any, entries: Any) -> list[int]:
        batches.append(len(entries))
        return real(conn, entries)

    monkeypatch.setattr(audit, "append_rows", counting)
    await _write(db, clock, 2)  # rows appended inside callers' own transactions too
    await asyncio.gather(*(recorder.record(
        actor=Actor(7, "derm@example.org"), action="consult.list", at=clock.now(),
        detail=f"n={i}") for i in range(40)))
    await _write(db, clock, 1)
    assert len(await _entries(db)) == 43
    assert sum(batches) == 43 and len(batches) < 43  # at least one commit was shared
    result = await _verify(db)
    assert result.ok and result.rows == 43


async def test_a_failed_group_commit_fails_every_waiter_and_records_nothing(
    db: Database, clock: ManualClock, recorder: GroupRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = audit.append_rows

    def failing(conn: Any, entries: Any) -> list[int]:
        real(conn, entries)  # written, then the transaction must roll back
        raise OSError("disk full")

    monkeypatch.setattr(audit, "append_rows", failing)
    results = await asyncio.gather(*(recorder.record(
        actor=Actor(7, "derm@example.org"), action="consult.list", at=clock.now())
        for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert await _entries(db) == []
    monkeypatch.setattr(audit, "append_rows", real)
    await recorder.record(actor=Actor(7, "derm@example.org"), action="consult.list",
                       at=clock.now())
    assert len(await _entries(db)) == 1 and (await _verify(db)).ok


async def test_a_caller_that_goes_away_does_not_cancel_the_commit(
    db: Database, clock: ManualClock, recorder: GroupRecorder
) -> None:
    task = asyncio.create_task(recorder.record(
        actor=Actor(7, "derm@example.org"), action="image.view", at=clock.now(),
        object_id="img-1"))
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(100):
        if await _entries(db):
            break
        await asyncio.sleep(0.01)
    assert await _entries(db) == [("image.view", "img-1")]
