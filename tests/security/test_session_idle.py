"""The idle timeout holds to the configured second, however the last-seen writes are
batched (at most one a minute a session, in the background, finishing in any order)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import AuthSession
from econsult.security import sessions
from tests.conftest import ClientFor
from tests.factories import Personas

IDLE = timedelta(minutes=15)  # Settings.session_idle_minutes


async def stored_last_seen(db: Database) -> list[object]:
    async with db.read() as session:
        return list((await session.execute(select(col(AuthSession.last_seen_at)))).scalars())


async def settle(app: Starlette) -> None:
    await app_state(app).session_touches.drain()


async def test_activity_between_writes_counts_to_the_second(
    app: Starlette, client_for: ClientFor, personas: Personas, clock: ManualClock,
) -> None:
    """A request 30 s after the last write starts no write of its own (the stored time
    is under a minute old), yet the session lives until exactly IDLE after it."""
    client = await client_for(personas.gp)
    clock.advance(timedelta(seconds=30))
    last_activity = clock.now()
    assert (await client.get("/api/v1/me")).status_code == 200
    await settle(app)
    clock.advance(IDLE - timedelta(seconds=1))
    assert (await client.get("/api/v1/me")).status_code == 200
    await settle(app)
    # That request was itself activity: go idle from it, to the second.
    clock.advance(IDLE - timedelta(seconds=1))
    assert (await client.get("/api/v1/me")).status_code == 200
    clock.advance(IDLE)
    assert (await client.get("/api/v1/me")).status_code == 401
    assert clock.now() - last_activity == 3 * IDLE - timedelta(seconds=2)


async def test_the_session_ends_at_exactly_the_idle_timeout(
    client_for: ClientFor, personas: Personas, clock: ManualClock, app: Starlette,
) -> None:
    gp = await client_for(personas.gp)
    other = await client_for(personas.other_gp)
    clock.advance(timedelta(seconds=20))
    assert (await gp.get("/api/v1/me")).status_code == 200
    assert (await other.get("/api/v1/me")).status_code == 200
    await settle(app)
    clock.advance(IDLE - timedelta(microseconds=1))
    assert (await gp.get("/api/v1/me")).status_code == 200
    clock.advance(timedelta(microseconds=1))
    assert (await other.get("/api/v1/me")).status_code == 401


async def test_a_write_that_finishes_late_never_rewinds_last_seen(
    db: Database, client_for: ClientFor, personas: Personas, clock: ManualClock,
) -> None:
    await client_for(personas.gp)
    start = clock.now()
    later, earlier = start + timedelta(minutes=5), start + timedelta(minutes=2)
    (session_id,) = await _ids(db)
    for at in (later, earlier):  # committed out of order
        async with db.write() as session:
            await sessions.touch(session, session_id, now=at)
    assert await stored_last_seen(db) == [later]


async def test_a_request_that_read_the_row_before_the_write_committed_keeps_the_session(
    app: Starlette, db: Database, client_for: ClientFor, personas: Personas,
    clock: ManualClock,
) -> None:
    """On PostgreSQL a request can read the row just before a touch commits; the time
    must still be known in memory then (this ended sessions 30 minutes early)."""
    client = await client_for(personas.gp)
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        assert (await client.get("/api/v1/me")).status_code == 200
        await settle(app)
    # Put the row back as a reader that started before the last commit saw it.
    (session_id,) = await _ids(db)
    async with db.write() as session:
        await session.execute(update(AuthSession).where(col(AuthSession.id) == session_id)
                              .values(last_seen_at=clock.now() - timedelta(minutes=20)))
    clock.advance(timedelta(minutes=10))
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_concurrent_requests_start_one_write_at_a_time(
    app: Starlette, client_for: ClientFor, personas: Personas, clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await client_for(personas.gp)
    writes: list[object] = []
    real = sessions.touch

    async def counting(db: object, session_id: int, *, now: object) -> None:
        writes.append(now)
        await real(db, session_id, now=now)  # type: ignore[arg-type]

    monkeypatch.setattr(sessions, "touch", counting)
    clock.advance(timedelta(minutes=2))
    responses = await asyncio.gather(*(client.get("/api/v1/me") for _ in range(20)))
    assert all(r.status_code == 200 for r in responses)
    await settle(app)
    assert len(writes) == 1


async def _ids(db: Database) -> list[int]:
    async with db.read() as session:
        return [int(i or 0) for i in (await session.execute(select(col(AuthSession.id))))
                .scalars()]
