"""SQLite connections: pragmas, how each transaction begins, and the synchronous
connections that run short reads and small writes without a thread hand-off (see
`econsult.db.engines` for why)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from econsult.db.precompiled import as_sqlalchemy_error

BUSY_TIMEOUT_MS = 10_000
# The loop writer's commits between two WAL checkpoints handed to the writer thread
# (a submission dirties ~15-20 pages: about SQLite's own 1,000-page autocheckpoint).
CHECKPOINT_EVERY = 64
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


def sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
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


class LoopConnection:
    """A synchronous SQLite connection for one thread (the event loop's), in autocommit
    mode, opened on first use. `busy_timeout_ms` replaces the configured wait."""

    def __init__(self, url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
                 autocheckpoint: bool = True) -> None:
        self._engine = create_engine(_sync_url(url), isolation_level="AUTOCOMMIT",
                                     poolclass=StaticPool)

        @event.listens_for(self._engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            _configure(dbapi_connection)
            if busy_timeout_ms != BUSY_TIMEOUT_MS:
                dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not autocheckpoint:
                dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        self._conn: Connection | None = None
        self._thread: int | None = None

    @property
    def engine(self) -> Engine:
        return self._engine

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


class LoopReader(LoopConnection):
    """Each statement is its own read snapshot."""

    def fetch(self, statement: Executable, params: Mapping[str, Any] | None
              ) -> Sequence[Row[Any]]:
        return self._connection().execute(statement, params).all()


class LoopWriter(LoopConnection):
    """Writes only when it can do so at once: no busy timeout, so BEGIN IMMEDIATE fails
    immediately with SQLITE_BUSY while another connection writes, and the caller goes
    elsewhere."""

    def __init__(self, url: str, checkpoint: Callable[[], None] | None = None) -> None:
        # With `checkpoint`, this connection's commits never run a WAL checkpoint
        # themselves (an automatic one writes back and fsyncs the database file: ms on
        # the event loop); every CHECKPOINT_EVERY commits it calls `checkpoint`, which
        # runs one on the writer thread. Other connections keep the automatic ones.
        super().__init__(url, busy_timeout_ms=0, autocheckpoint=checkpoint is None)
        self._checkpoint = checkpoint
        self._commits = 0

    def try_run(self, work: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """(True, result) once committed; (False, None), having written nothing, if
        the write lock is taken."""
        conn = self._connection()
        # BEGIN and COMMIT straight on the sqlite3 connection (in autocommit mode, so
        # SQLAlchemy keeps no transaction state of its own for it to track).
        raw: Any = conn.connection.driver_connection
        try:
            raw.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
                return False, None
            raise as_sqlalchemy_error(conn, "BEGIN IMMEDIATE", (), exc) from exc
        try:
            result = work(conn)
            try:
                raw.execute("COMMIT")
            except sqlite3.Error as exc:
                raise as_sqlalchemy_error(conn, "COMMIT", (), exc) from exc
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        self._commits += 1
        if self._checkpoint is not None and self._commits >= CHECKPOINT_EVERY:
            self._commits = 0
            self._checkpoint()
        return True, result


class ThreadWriter:
    """A synchronous SQLite connection owned by one thread, for whole write
    transactions handed over in one piece."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(_sync_url(url), poolclass=StaticPool,
                                     connect_args={"check_same_thread": False,
                                                   "timeout": BUSY_TIMEOUT_MS / 1000})
        _begin_with(self._engine, "BEGIN IMMEDIATE")
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="econsult-writer")
        self._checkpointing: Future[None] | None = None

    @property
    def engine(self) -> Engine:
        return self._engine

    def checkpoint_soon(self) -> None:
        """A passive WAL checkpoint on this thread, unless one is already queued."""
        if self._checkpointing is None or self._checkpointing.done():
            self._checkpointing = self._thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        # On the raw connection, outside any transaction (the engine's begin hook would
        # take the write lock, and a checkpoint cannot run inside a transaction).
        # PASSIVE: never waits for readers or the writer; what it cannot copy now the
        # next one will.
        raw = self._engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        except sqlite3.Error:
            pass  # busy or interrupted: the next checkpoint catches up
        finally:
            raw.close()

    async def run(self, work: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    def close(self) -> None:
        self._thread.submit(self._engine.dispose).result()
        self._thread.shutdown()
