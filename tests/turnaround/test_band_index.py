"""The band index (migration 0016): it exists on a migrated database, its frozen
expression is the one `turnaround.bands` computes, the band seek reads through it on
SQLite, and the band of a time to answer is the same in SQL as by its definition."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from starlette.applications import Starlette

from econsult.http.state import app_state
from econsult.turnaround import percentiles
from econsult.turnaround.bands import INDEX, band_sql

MIGRATION = Path(__file__).parents[2] / "econsult/migrations/versions/0016_answer_band_index.py"


def _sqlite_value(value: object) -> object:
    """A bound value as the UTC column stores it (naive UTC text)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def _frozen() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("m0016", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.BAND)


def test_the_migration_froze_the_expression_bands_computes() -> None:
    assert _frozen() == {d: band_sql(d) for d in ("sqlite", "postgresql")}


def _band(seconds: float) -> int:
    """The definition: 10-minute bands to 6 h, hourly to 3 days, then half days."""
    if seconds < 21_600:
        return int(seconds // 600)
    if seconds < 259_200:
        return 36 + int((seconds - 21_600) // 3_600)
    return 102 + int((seconds - 259_200) // 43_200)


EDGES = [0.0, 0.5, 599.999, 600.0, 601.0, 21_599.9, 21_600.0, 25_199.0, 25_200.0,
         259_199.99, 259_200.0, 302_399.0, 302_400.0, 1_234_567.89, 9_999_999.0]


async def test_the_index_exists_and_sql_bands_as_defined(app: Starlette) -> None:
    db = app_state(app).db
    async with db.read() as session:
        dialect = session.bind.dialect.name  # type: ignore[union-attr]
        if dialect == "sqlite":
            found = (await session.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = :n"), {"n": INDEX})).scalar()
        else:
            found = (await session.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": INDEX})).scalar()
        assert found is not None and "seconds_to_answer IS NOT NULL" in found.replace(
            "(seconds_to_answer IS NOT NULL)", "seconds_to_answer IS NOT NULL")
        for seconds in EDGES:
            sql = band_sql(dialect, ":s")
            got = (await session.execute(text(f"SELECT {sql}"), {"s": seconds})).scalar()
            assert got == _band(seconds), seconds


async def test_the_band_seek_reads_the_band_index_on_sqlite(app: Starlette) -> None:
    db = app_state(app).db
    async with db.read() as session:
        if session.bind.dialect.name != "sqlite":  # type: ignore[union-attr]
            pytest.skip("the plan is SQLite's")
        shape = percentiles.SeekShape("sqlite", small=True, hide_range=False, start=True,
                                      end=True, specialty=False, urgency=False,
                                      groups=(True, False), specialties=1, urgencies=1)
        compiled = percentiles.seek_statement(shape).compile(dialect=sqlite_dialect.dialect())
        values = {"sp0": "dermatology", "ur0": "routine", "b0": 7, "o0": 3, "b1": 7, "o1": 3,
                  "start": datetime(2026, 1, 1, tzinfo=UTC),
                  "end": datetime(2026, 2, 1, tzinfo=UTC)}
        sql = compiled.string
        names = list(compiled.positiontup or [])
        values |= {"tsp0": "dermatology", "tur0": "routine"}
        values = {**{k: v for k, v in compiled.params.items() if v is not None}, **values}
        conn = await session.connection()
        plan = " ".join(str(row) for row in (await conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + sql, tuple(_sqlite_value(values[n]) for n in names)
        )).all())
    assert INDEX in plan and "<expr>=?" in plan, plan
