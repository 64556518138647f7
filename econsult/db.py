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
it runs through asyncpg.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from econsult.config import Settings

BUSY_TIMEOUT_MS = 10_000
MMAP_BYTES = 2**31
T = TypeVar("T")


def _configure(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Read pages through a memory map instead of a pread() each: the dashboard's
    # aggregates step through a million index entries (bench/turnaround.py: 1M full
    # range ~240 -> ~205 ms). SQLite clamps this to its compile-time maximum (2 GB).
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
    )

    _begin_with(engine.sync_engine, "BEGIN IMMEDIATE" if immediate else "BEGIN")
    return engine


def _begin_with(engine: Engine, begin: str) -> None:
    """Configure each connection, and start every transaction with `begin`."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so that the "begin" hook
        # below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        _configure(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def _sync_url(url: str) -> str:
    """"sqlite+aiosqlite:///path" -> the same file through the standard sqlite3 driver."""
    return url.replace("+aiosqlite", "", 1)


class _LoopConnection:
    """A synchronous SQLite connection for one thread (the event loop's), in autocommit
    mode, opened on first use. `busy_timeout_ms` replaces the configured wait."""

    def __init__(self, url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self._engine = create_engine(_sync_url(url), isolation_level="AUTOCOMMIT",
                                     poolclass=StaticPool)

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            _configure(dbapi_connection)
            if busy_timeout_ms != BUSY_TIMEOUT_MS:
                dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

        self._conn: Connection | None = None
        self._thread: int | None = None

    def usable_here(self) -> bool:
        """sqlite3 connections belong to the thread that opened them."""
        return self._thread is None or self._thread == threading.get_ident()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect()
            self._thread = threading.get_ident()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()


class _LoopReader(_LoopConnection):
    """Each statement is its own read snapshot."""

    def fetch(self, statement: Executable, params: Mapping[str, Any] | None
              ) -> Sequence[Row[Any]]:
        return self._connection().execute(statement, params).all()


class _LoopWriter(_LoopConnection):
    """Writes only when it can do so at once: no busy timeout, so BEGIN IMMEDIATE fails
    immediately with SQLITE_BUSY while another connection writes, and the caller goes
    elsewhere."""

    def __init__(self, url: str) -> None:
        super().__init__(url, busy_timeout_ms=0)

    def try_run(self, work: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """(True, result) once committed; (False, None), having written nothing, if
        the write lock is taken."""
        conn = self._connection()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                return False, None
            raise
        try:
            result = work(conn)
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            if conn.connection.dbapi_connection is not None and \
                    conn.connection.dbapi_connection.in_transaction:
                conn.exec_driver_sql("ROLLBACK")
            raise
        return True, result


class _ThreadWriter:
    """A synchronous SQLite connection owned by one thread, for whole write
    transactions handed over in one piece."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(_sync_url(url), poolclass=StaticPool,
                                     connect_args={"check_same_thread": False,
                                                   "timeout": BUSY_TIMEOUT_MS / 1000})
        _begin_with(self._engine, "BEGIN IMMEDIATE")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="econsult-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    def close(self) -> None:
        self._thread.submit(self._engine.dispose).result()
        self._thread.shutdown()


class Database:
    """The engines and session factories one process uses."""

    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=pool_size)
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1)
        else:
            self.read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True
            )
            self.write_engine = self.read_engine
        # ":memory:" would be a different database on every connection.
        in_memory = self.is_sqlite and (url.endswith(":memory:") or url.endswith("://"))
        self._loop_reader = _LoopReader(url) if self.is_sqlite and not in_memory else None
        self._thread_writer = _ThreadWriter(url) if self.is_sqlite and not in_memory else None
        self._loop_writer = _LoopWriter(url) if self.is_sqlite and not in_memory else None
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url)

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
