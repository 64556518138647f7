"""The audit chain from the attacker's side: edit, delete, truncate, reorder."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.security import audit
from econsult.security.audit import Actor


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
                         "object_id", "client_addr", "outcome", "detail", "prev_hash", "hash"}
