"""Statements compiled once and, on SQLite, run straight on the DBAPI connection: the
one-unit write path (`consults.submit._write`) runs about fifteen of them per
submission, and `Connection.execute`'s per-call work (cache key, parameter dicts,
result set-up: ~20-60 us) was a third of its CPU. On other drivers (and on
aiosqlite's adapted connection) each is `conn.execute`. They fire no SQLAlchemy
cursor events (SQLite's own trace still sees them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, Select, Update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

Binds = list[tuple[str, Callable[[Any], Any] | None]]


def as_sqlalchemy_error(conn: Connection, sql: str, params: Sequence[Any],
                       exc: sqlite3.Error) -> BaseException:
    """The error as SQLAlchemy raises it (IntegrityError, OperationalError, ...)."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error,
                               hide_parameters=True, dialect=conn.dialect)


class Precompiled:
    """A Core INSERT or UPDATE that returns nothing, compiled once per dialect and set
    of parameter names, the columns' bind processors applied."""

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, Binds, dict[str, Any]]] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
            ) -> int | None:
        """On SQLite, a one-row INSERT returns the new row's id (its rowid)."""
        many = [params] if isinstance(params, Mapping) else list(params)
        if not many:
            return None
        raw: Any = conn.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection):  # another driver, or aiosqlite's
            result = conn.execute(self.statement, many if len(many) > 1 else many[0])
            return result.lastrowid if len(many) == 1 and conn.dialect.name == "sqlite" \
                else None
        keys = tuple(many[0])
        found = self._compiled.get((conn.dialect.name, keys))
        if found is None:
            compiled: Any = self.statement.compile(dialect=conn.dialect, column_keys=list(keys))
            processors = compiled._bind_processors
            found = (compiled.string,
                     [(name, processors.get(name)) for name in compiled.positiontup],
                     _fixed_values(compiled))
            self._compiled[(conn.dialect.name, keys)] = found
        sql, binds, fixed = found
        rows = [_bound(binds, {**fixed, **p}) for p in many]
        try:
            if len(rows) == 1:
                rowid: int | None = raw.execute(sql, rows[0]).lastrowid
                return rowid
            raw.executemany(sql, rows)
            return None
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(conn, sql, rows, exc) from exc


def _bound(binds: Binds, params: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(proc(params[name]) if proc else params[name] for name, proc in binds)


def _fixed_values(compiled: Any) -> dict[str, Any]:
    """The values the statement itself binds (a literal in a comparison); an IN list of
    literals (an expanding parameter, rendered per call) is refused: write it as ORs."""
    fixed = {}
    for name, bind in compiled.binds.items():
        if bind.expanding:
            raise TypeError(f"PrecompiledQuery cannot expand IN parameter {name!r}")
        if not bind.required:
            fixed[name] = bind.effective_value
    return fixed


class PrecompiledQuery:
    """A Core SELECT with named bind parameters, compiled once per dialect; its rows
    come back as tuples, each column through its type's result processor (what
    `Connection.execute(...).all()` gives, by position)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, Binds, dict[str, Any],
                                        list[Callable[[Any], Any] | None]]] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any] | None = None
             ) -> list[tuple[Any, ...]]:
        params = params or {}
        raw: Any = conn.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection):  # another driver, or aiosqlite's
            return [tuple(row) for row in conn.execute(self.statement, dict(params))]
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled: Any = self.statement.compile(dialect=conn.dialect)
            processors = compiled._bind_processors
            results: list[Callable[[Any], Any] | None] = [
                c.type._cached_result_processor(conn.dialect, None)
                for c in self.statement.selected_columns]
            found = (compiled.string,
                     [(name, processors.get(name)) for name in compiled.positiontup],
                     _fixed_values(compiled), results)
            self._compiled[conn.dialect.name] = found
        sql, binds, fixed, results = found
        values = _bound(binds, {**fixed, **params})
        try:
            fetched = raw.execute(sql, values).fetchall()
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(conn, sql, values, exc) from exc
        if not any(results):
            return [tuple(row) for row in fetched]
        return [tuple(proc(v) if proc else v for proc, v in zip(results, row, strict=True))
                for row in fetched]
