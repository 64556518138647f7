"""Reading Core statements inside a session's transaction without the ORM, and two
independent reads of one request side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Executable, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

Reader = AsyncSession | AsyncConnection
A = TypeVar("A")
B = TypeVar("B")


async def core_rows(reader: Reader, statement: Executable,
                    params: Mapping[str, Any] | None = None) -> Sequence[Any]:
    """All rows of a statement of columns (no entities); for a session, run on its own
    connection, so in its transaction and snapshot. `AsyncSession.execute` hands such
    rows through the ORM's result loading, which builds every row again: for the few
    thousand rows of a dashboard summary that was its largest cost in Python."""
    conn = await reader.connection() if isinstance(reader, AsyncSession) else reader
    return (await conn.execute(statement, dict(params or {}))).all()


def dialect_of(reader: Reader) -> str:
    if isinstance(reader, AsyncConnection):
        return reader.dialect.name
    return reader.bind.dialect.name if reader.bind is not None else "sqlite"


async def side_by_side(session: AsyncSession, here: Callable[[], Awaitable[A]],
                       there: Callable[[Reader], Awaitable[B]]) -> tuple[A, B]:
    """`here` (reading through `session`) and `there` (reading through the reader it is
    given), both results. On PostgreSQL `there` gets a second connection of the
    session's engine and the two run at once, each on its own server process: the
    session's reads are READ COMMITTED, so each statement sees the latest commits
    wherever it runs. Parallel plans are off on that connection (the point is two
    short reads on two cores, not workers competing for them). On SQLite both run in
    the session, one after the other: one connection is one snapshot."""
    engine = session.bind
    if dialect_of(session) == "sqlite" or not isinstance(engine, AsyncEngine):
        first = await here()
        return first, await there(session)
    async with engine.connect() as conn:  # closed: rolled back, the setting with it
        await conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        first, second = await asyncio.gather(here(), there(conn))
    return first, second
