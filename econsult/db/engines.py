"""Engines and sessions, created by the app's lifespan (never at import).

SQLite is the embedded default: WAL (readers never block the writer), a busy timeout,
foreign keys on, synchronous=NORMAL (durable at each WAL checkpoint, safe against
corruption). SQLite allows one writer at a time, so writes go through their own engine:
its transactions start with BEGIN IMMEDIATE (taking the write lock up front, so a
read-then-write transaction can neither lose an update nor fail with "database is
locked" half way) and its pool holds a single connection, so writers in this process
queue on the pool instead of spinning on the busy timeout. Reads use a second engine
whose deferred BEGIN gives a consistent snapshot without taking the lock.

On PostgreSQL both names point at one engine; concurrency is the database's business.

Short indexed reads on the hot path (resolving the session cookie, listing a queue) go
through `fetch()`. On SQLite it runs the statement on a synchronous connection in the
event loop's own thread: a WAL reader never waits for the writer, so the loop is held
only for the query's own work (tens of microseconds), where each aiosqlite call is a
hand-off to another thread and back (~150 us, and more when the GIL is contended).
On PostgreSQL it is one asyncpg round trip.

Small write transactions written as synchronous Core code (the audit log's group
commits) go through `run_write()`. On SQLite, when the write lock is free, the whole
transaction runs at once on a connection in the loop's thread (BEGIN IMMEDIATE with
no busy wait: a few hundred microseconds, no thread hand-off); when another
connection holds the lock, it goes to a writer thread of its own, which waits for
it (the busy timeout is waited out there, never on the loop). An AsyncSession makes
a dozen hand-offs for the same work (every cursor, execute, fetch and close is one).
All writers start with BEGIN IMMEDIATE, so SQLite's lock orders them. On PostgreSQL
it runs through asyncpg. The loop's writer connection never checkpoints the WAL in its
own COMMITs (that writes back and fsyncs on the loop); every CHECKPOINT_EVERY commits
it queues a passive checkpoint on the writer thread. A consult submission is one such
unit (`consults.submit._write`), its plain statements `db.precompiled`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from econsult.config import Settings
from econsult.db.files import private_dir, private_sqlite_file, sqlite_file
from econsult.db.sqlite import LoopReader, LoopWriter, ThreadWriter, sqlite_engine

T = TypeVar("T")
CONTEXT_OPTION = "econsult_context"


def connection_context(conn: Connection) -> dict[str, Any]:
    """The owning Database's `context` (empty for a connection made elsewhere)."""
    context: dict[str, Any] = conn.get_execution_options().get(CONTEXT_OPTION, {})
    return context


class Database:
    """The engines and session factories one process uses."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = sqlite_engine(url, immediate=False, pool_size=pool_size)
            self.write_engine = sqlite_engine(url, immediate=True, pool_size=1)
        else:
            self.read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
            )
            self.write_engine = self.read_engine
        # ":memory:" would be a different database on every connection.
        in_memory = self.is_sqlite and (url.endswith(":memory:") or url.endswith("://"))
        self._loop_reader = LoopReader(url) if self.is_sqlite and not in_memory else None
        self._thread_writer = ThreadWriter(url) if self.is_sqlite and not in_memory else None
        self._loop_writer = LoopWriter(url, checkpoint=self._thread_writer.checkpoint_soon) \
            if self._thread_writer is not None else None
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        # What code running on one of this database's connections may need of the
        # process (the keyring the audit chain is keyed with, the settings to load it
        # from): one shared dict, reachable from every connection's execution options
        # as CONTEXT_OPTION, so a Core routine given only a connection finds it.
        self.context: dict[str, Any] = {}
        for engine in (self.read_engine.sync_engine, self.write_engine.sync_engine,
                       *(c.engine for c in (self._loop_reader, self._thread_writer,
                                            self._loop_writer) if c is not None)):
            engine.update_execution_options(**{CONTEXT_OPTION: self.context})

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.is_sqlite:
            private_dir(settings.data_dir)
            path = sqlite_file(settings.database_url)
            if path is not None:
                private_sqlite_file(path)
        db = cls(settings.database_url)
        db.context["settings"] = settings
        return db

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: one snapshot, rolled back when the session closes."""
        async with self._read() as session:
            yield session

    async def fetch(self, statement: Executable, params: Mapping[str, Any] | None = None
                    ) -> Sequence[Row[Any]]:
        """All rows of one short, indexed read (see the module docstring). Hot paths
        build `statement` once, with bind parameters: building and cache-keying a
        SQLAlchemy statement costs several times what running it does."""
        if self._loop_reader is not None and self._loop_reader.usable_here():
            return self._loop_reader.fetch(statement, params)
        async with self.read_engine.connect() as conn:
            return (await conn.execute(statement, params)).all()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self._write() as session, session.begin():
            yield session

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous Core on the connection it is given) in one write
        transaction: committed when it returns, rolled back if it raises. On SQLite
        `work` may run in the calling thread, so it must be short."""
        if self._loop_writer is not None and self._loop_writer.usable_here():
            done, result = self._loop_writer.try_run(work)
            if done:
                return result  # type: ignore[return-value]
        if self._thread_writer is not None:
            return await self._thread_writer.run(work)
        async with self.write_engine.begin() as conn:
            return await conn.run_sync(work)

    async def dispose(self) -> None:
        if self._loop_reader is not None:
            self._loop_reader.close()
        if self._thread_writer is not None:
            self._thread_writer.close()
        if self._loop_writer is not None:
            self._loop_writer.close()
        await self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            await self.write_engine.dispose()
