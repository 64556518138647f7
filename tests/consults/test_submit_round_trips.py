"""One submission's database round trips (issue 18, "a leaner write path"): on SQLite
the whole transaction (routing inputs, consult, search tokens, idempotency key, events,
assignee stamp, audit entry) is one unit on the writer's connection, so it makes at most
one thread hand-off and a bounded number of statements. Counted, not timed: a change
that goes back to an AsyncSession (a dozen hand-offs and more) fails here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from bench.sqlite_write import _input
from econsult.consults.submit import submit
from econsult.db.sqlite import ThreadWriter
from econsult.http.state import app_state
from econsult.models import AuditEvent, ConsultEvent, ConsultSearchToken, IdempotentRequest
from econsult.security import audit
from econsult.security.policy import Principal
from tests.factories import Personas

# The ceilings this change brought the submission down to (it was ~95 hand-offs).
MAX_HANDOFFS = 1
MAX_STATEMENTS = 17  # BEGIN and COMMIT, the idempotency look-up and row included


@dataclass
class Counts:
    handoffs: int = 0
    statements: list[str] = field(default_factory=list)
    traced_engines: list[Engine] = field(default_factory=list)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    found = Counts()
    real_execute: Any = aiosqlite.Connection._execute
    real_run = ThreadWriter.run
    real_executor = asyncio.BaseEventLoop.run_in_executor

    async def execute(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        found.handoffs += 1
        return await real_execute(self, fn, *args, **kw)

    async def run(self: ThreadWriter, work: Any) -> Any:
        found.handoffs += 1
        return await real_run(self, work)

    def executor(self: asyncio.BaseEventLoop, *args: Any) -> Any:
        found.handoffs += 1
        return real_executor(self, *args)

    def statement(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        if conn.engine not in found.traced_engines:  # those are counted by SQLite's trace
            found.statements.append(sql)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", execute)
    monkeypatch.setattr(ThreadWriter, "run", run)
    monkeypatch.setattr(asyncio.BaseEventLoop, "run_in_executor", executor)
    event.listen(Engine, "before_cursor_execute", statement)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", statement)


def _gp(personas: Personas) -> Principal:
    gp = personas.gp
    return Principal(gp.id or 0, gp.role, active=True, email=gp.email, name=gp.name)


async def _count(app: Starlette, model: Any) -> int:
    async with app_state(app).db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize("key", [None, "round-trips-key-1"])
async def test_one_submission_is_one_unit_on_the_writer(
        app: Starlette, personas: Personas, rota: None, counts: Counts, key: str | None
) -> None:
    deps = app_state(app)
    if not deps.db.is_sqlite:
        pytest.skip("the hand-offs counted are SQLite's (PostgreSQL: bench/pg_write.py)")
    data = _input()
    if key:
        from dataclasses import replace

        data = replace(data, idempotency_key=key)
    before = {m: await _count(app, m) for m in (ConsultEvent, AuditEvent, ConsultSearchToken,
                                                IdempotentRequest)}
    # Every statement SQLite runs on the loop's writer connection (precompiled ones
    # included, which fire no SQLAlchemy event; an executemany counts once per row).
    writer = deps.db._loop_writer
    assert writer is not None
    traced: list[str] = []
    raw: Any = writer._connection().connection.driver_connection
    raw.set_trace_callback(traced.append)
    counts.traced_engines.append(writer.engine)
    counts.handoffs, counts.statements = 0, []
    try:
        summary, created = await submit(deps, _gp(personas), data, [])
    finally:
        raw.set_trace_callback(None)
    handoffs, statements = counts.handoffs, counts.statements + traced
    # The search tokens are one executemany: count it once.
    tokens = [sql for sql in statements if sql.startswith("INSERT INTO consult_search_tokens")]
    statements = [sql for sql in statements if sql not in tokens] + tokens[:1]
    assert tokens and traced, "the submission ran on the loop's writer connection"
    assert created and summary.state == "assigned"
    assert handoffs <= MAX_HANDOFFS, f"{handoffs} thread hand-offs for one submission"
    assert len(statements) <= MAX_STATEMENTS, "\n".join(statements)
    # Everything was written, in that one unit.
    assert await _count(app, ConsultEvent) == before[ConsultEvent] + 2
    assert await _count(app, AuditEvent) == before[AuditEvent] + 1
    assert await _count(app, ConsultSearchToken) > before[ConsultSearchToken]
    assert await _count(app, IdempotentRequest) == before[IdempotentRequest] + (1 if key else 0)
    async with deps.db.read() as s:
        assert (await audit.verify(s)).ok
    # A retry with the same key writes nothing and answers with the first consult.
    if key:
        again, created_again = await submit(deps, _gp(personas), data, [])
        assert (again.id, created_again) == (summary.id, False)
        assert await _count(app, ConsultEvent) == before[ConsultEvent] + 2


async def test_loop_writer_commits_hand_wal_checkpoints_to_the_writer_thread(
        app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop writer's commits never checkpoint the WAL themselves (that writes back
    and fsyncs on the event loop); every CHECKPOINT_EVERY of them one runs on the writer
    thread, and the WAL is copied back."""
    import threading

    from sqlalchemy import Connection, text

    from econsult.db import sqlite as sqlite_db

    db = app_state(app).db
    if not db.is_sqlite:
        pytest.skip("SQLite's WAL")
    ran: list[int] = []
    real = ThreadWriter._checkpoint

    def checkpoint(self: ThreadWriter) -> None:
        ran.append(threading.get_ident())
        real(self)

    monkeypatch.setattr(ThreadWriter, "_checkpoint", checkpoint)

    def bump(conn: Connection) -> int:
        conn.execute(text("UPDATE specialties SET open_cap = open_cap + 1 "
                          "WHERE slug = 'dermatology'"))
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())

    autos = [await db.run_write(bump) for _ in range(2 * sqlite_db.CHECKPOINT_EVERY)]
    assert set(autos) == {0}  # every commit ran on the loop writer, autocheckpoint off
    writer = db._thread_writer
    assert writer is not None
    await writer.run(lambda conn: None)  # the writer thread's queue has drained
    assert 1 <= len(ran) <= 2 and threading.get_ident() not in ran
    import sqlite3

    from econsult.db.files import sqlite_file

    path = sqlite_file(app_state(app).settings.database_url)
    assert path is not None
    other = sqlite3.connect(path)
    try:
        busy, log, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        other.close()
    assert busy == 0 and log == done  # nothing left behind in the WAL


async def test_precompiled_writes_raise_as_sqlalchemy_does(app: Starlette) -> None:
    """A unique violation on the precompiled path is SQLAlchemy's IntegrityError (the
    submission's idempotency race is caught as one), and nothing is left written."""
    from sqlalchemy import Connection, insert
    from sqlalchemy.exc import IntegrityError

    from econsult.db.precompiled import Precompiled
    from econsult.models import Specialty

    db = app_state(app).db
    table = Specialty.__table__  # type: ignore[attr-defined]
    async with db.read() as s:
        row = (await s.execute(select(table).where(table.c.slug == "dermatology"))).one()
    again = Precompiled(insert(table))

    def twice(conn: Connection) -> None:
        again.run(conn, {**row._mapping, "slug": "precompiled-x"})
        again.run(conn, {**row._mapping, "slug": "precompiled-x"})

    with pytest.raises(IntegrityError):
        await db.run_write(twice)
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(table)
                                .where(table.c.slug == "precompiled-x"))).scalar_one() == 0
