"""The dashboard's aggregate call at scale, against raw SQL over the same rows.

Generates N historical consults (the demo generator; timed, so this is also the
`econsult demo --consults N` load benchmark), then times `aggregates.summarise`
(GET /api/v1/turnaround's work) over the full range, the last month and one
specialty, and prints each as a ratio to two raw limits measured in the same run on
the same filter: one scan that counts the rows and sums a column, and one sort of
every answered time to answer (what any exact percentile must at least do).

    .venv/bin/python bench/turnaround.py [--consults 1000000] [--data-dir /tmp/econsult-bench]
    ECONSULT_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/turnaround.py

The database is kept between runs: a second run with the same --data-dir only times
the queries.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, text

from econsult.config import Settings
from econsult.db import Database
from econsult.demo.history import generate_for_demo
from econsult.demo.seed import consult_count, seed_users
from econsult.ops.migrate import migrate
from econsult.turnaround import aggregates
from econsult.turnaround.filters import Filters


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int) -> float:
    await fn()  # warm the page cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _where_sql(f: Filters, dialect: str) -> tuple[str, dict[str, object]]:
    clauses: list[str] = []
    params: dict[str, object] = {}
    for name, op, value in (("start", ">=", f.start), ("end", "<", f.end)):
        if value is not None:
            clauses.append(f"submitted_at {op} :{name}")
            params[name] = (value.replace(tzinfo=None).isoformat(sep=" ")
                            if dialect == "sqlite" else value)
    if f.specialty:
        clauses.append("specialty = :specialty")
        params["specialty"] = f.specialty
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# The turnaround indexes as first proposed here (migration 0003 made them; 0004 and
# 0005 added the open-now and flags indexes): --indexes creates them on a database
# generated before those migrations, so both plans can still be compared.
PROPOSED = (
    # Replaces ix_consults_specialty_urgency_submitted_at: same prefix, and covering.
    "DROP INDEX IF EXISTS ix_consults_specialty_urgency_submitted_at",
    "CREATE INDEX IF NOT EXISTS ix_consults_turnaround_counts ON consults (specialty, urgency,"
    " submitted_at, state, seconds_to_answer, within_target, outcome, usefulness)",
    "CREATE INDEX IF NOT EXISTS ix_consults_turnaround_rank ON consults (specialty, urgency,"
    " seconds_to_answer, submitted_at)",
    "DROP INDEX IF EXISTS ix_consults_seconds_to_answer",
    "CREATE INDEX IF NOT EXISTS ix_consults_answer_order ON consults (seconds_to_answer,"
    " submitted_at, specialty, urgency)",
)


async def _bench(settings: Settings, n: int, repeat: int, indexes: bool) -> None:
    await migrate(settings)
    db = Database.from_settings(settings)
    try:
        have = await consult_count(db)
        if have < n:
            users = await seed_users(db)
            start = time.perf_counter()
            made = await generate_for_demo(db, settings, n=n - have, users=users, seed=have + 1)
            took = time.perf_counter() - start
            print(f"generated {made:,} consults in {took:.1f} s ({made / took:,.0f}/s)")
        if indexes:
            start = time.perf_counter()
            async with db.write() as session:
                for statement in PROPOSED:
                    await session.execute(text(statement))
            async with db.write_engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
            print(f"proposed indexes ready in {time.perf_counter() - start:.1f} s")
        total = await consult_count(db)
        dialect = "sqlite" if db.is_sqlite else "postgresql"
        async with db.read() as session:
            last = await aggregates.first_submitted(session, Filters())
            newest = (await session.execute(text("SELECT max(submitted_at) FROM consults"))
                      ).scalar()
        assert last is not None and newest is not None
        # SQLite hands over the stored naive UTC text; PostgreSQL an aware datetime.
        newest_at = datetime.fromisoformat(str(newest)[:19]).replace(tzinfo=UTC) \
            if isinstance(newest, str) else newest
        month = Filters(start=newest_at - timedelta(days=30))
        cases = {"full range": Filters(), "last 30 days": month,
                 "one specialty": Filters(specialty="dermatology")}
        print(f"\n{total:,} consults on {dialect}; median of {repeat} runs\n")
        print(f"{'filter':<14} {'rows':>9} {'aggregate':>10} {'scan':>8} {'sort':>8} "
              f"{'x scan':>7} {'x sort':>7}")
        for label, f in cases.items():
            where, params = _where_sql(f, dialect)
            answered = where + (" AND " if where else " WHERE ") + "seconds_to_answer IS NOT NULL"

            async def agg(f: Filters = f) -> object:
                async with db.read() as s:
                    return await aggregates.summarise(s, f)

            async def scan(where: str = where, params: dict[str, object] = params
                           ) -> Sequence[Row[Any]]:
                async with db.read() as s:
                    return (await s.execute(text(
                        f"SELECT count(*), sum(seconds_to_answer) FROM consults{where}"),
                        params)).all()

            async def sort(where: str = answered, params: dict[str, object] = params) -> object:
                async with db.read() as s:
                    return (await s.execute(text(
                        "SELECT count(*), max(s) FROM (SELECT seconds_to_answer s, ROW_NUMBER() "
                        f"OVER (ORDER BY seconds_to_answer) rn FROM consults{where}) t"),
                        params)).all()

            rows = (await scan())[0][0]
            a, s1, s2 = (await _timed(agg, repeat), await _timed(scan, repeat),
                         await _timed(sort, repeat))
            print(f"{label:<14} {rows:>9,} {a * 1000:>8.0f}ms {s1 * 1000:>6.0f}ms "
                  f"{s2 * 1000:>6.0f}ms {a / s1:>7.2f} {a / s2:>7.2f}")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consults", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/econsult-bench"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--indexes", action="store_true",
                        help="create the proposed turnaround indexes first")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = args.data_dir / "bench.key"
    if not key_file.exists():
        key_file.write_text(base64.b64encode(bytes(range(32))).decode())
    env_settings = Settings.from_env()
    url = env_settings.database_url if not env_settings.is_sqlite else None
    settings = Settings(data_dir=args.data_dir, master_key=key_file.read_text().strip(),
                        database_url=url or "")  # "": SQLite in the data directory
    asyncio.run(_bench(settings, args.consults, args.repeat, args.indexes))


if __name__ == "__main__":
    main()
