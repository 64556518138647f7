"""The turnaround aggregate on PostgreSQL: N consults loaded by COPY into a throwaway
database, `aggregates.summarise` (GET /api/v1/turnaround's work) over the full range and
the last 30 days, against one scan of the same rows (count, sum), and every group's
count, median, p90 and % within target checked against a recomputation in Python
(`turnaround.stats`) from the rows themselves.

The rows are synthetic but shaped like the demo history: one year, the catalogue's
specialties and urgencies, log-normal answer times, 2% still open, outcomes and
usefulness on the closed. Patient fields hold a one-byte placeholder (the aggregate
never reads them). Indexes are dropped for the load and rebuilt after, then VACUUM ANALYZE.

    ECONSULT_BENCH_PG_CONSULTS=1000000 .venv/bin/python -m bench.pg_turnaround
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bench.common import ROOT, Figure
from bench.pg_write import ADMIN_URL, _admin, answers
from econsult.config import Settings
from econsult.db import Database
from econsult.routing.targets import urgencies_for
from econsult.turnaround import aggregates, stats
from econsult.turnaround.filters import Filters

DEFAULT_N = 1_000_000
COLUMNS = ("id", "gp_id", "submitted_by", "specialty", "urgency", "state", "assigned_to",
           "submitted_at", "updated_at", "patient_name", "patient_dob",
           "patient_health_number", "question", "escalation_tried", "escalations", "reroutes",
           "answered_at", "closed_at", "paused_seconds", "seconds_to_answer", "target_seconds",
           "within_target", "outcome", "usefulness", "at_risk_at", "breached_at")
TARGETS = {"urgent": 7200.0, "semi_urgent": 2 * 32400.0, "routine": 5 * 32400.0}
OUTCOMES = ("referral_avoided", "referral_still_needed", "referral_now_planned", "other")


def rows(n: int, now: datetime, gp: int, specialists: list[int],
         specialties: list[str]) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(2026)
    span = 365 * 86400
    offsets = rng.uniform(0, span, n)
    picks = rng.integers(0, len(specialties), n)
    answer = rng.lognormal(np.log(20 * 3600), 1.2, n)
    open_ = rng.random(n) < 0.02
    closed = rng.random(n) < 0.7
    outcome = rng.integers(0, len(OUTCOMES), n)
    useful = rng.integers(1, 6, n)
    urgency_pick = rng.random(n)
    blob = b"\x00"
    out = []
    for i in range(n):
        specialty = specialties[int(picks[i])]
        offered = sorted(u.value for u in urgencies_for(specialty))
        urgency = offered[int(urgency_pick[i] * len(offered))]
        submitted = now - timedelta(seconds=float(offsets[i]))
        target = TARGETS[urgency]
        if open_[i]:
            state, seconds, within, answered_at = "in_review", None, None, None
        else:
            seconds = float(round(answer[i] * (0.05 if urgency == "urgent" else 1.0), 3))
            within = seconds <= target
            answered_at = submitted + timedelta(seconds=seconds)
            state = "closed" if closed[i] else "answered"
        is_closed = state == "closed"
        out.append((
            str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)), gp, gp, specialty,
            urgency, state, specialists[i % len(specialists)], submitted, submitted, blob,
            blob, blob, blob, "[]", 0, 0, answered_at, answered_at if is_closed else None, 0.0,
            seconds, target, within, OUTCOMES[int(outcome[i])] if is_closed else None,
            int(useful[i]) if is_closed else None, None, None))
    return out


async def _load(url: str, n: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        gp = await conn.fetchval("SELECT id FROM users WHERE role = 'gp' ORDER BY id LIMIT 1")
        specialists = [r[0] for r in await conn.fetch(
            "SELECT id FROM users WHERE role = 'specialist' ORDER BY id")]
        specialties = [r[0] for r in await conn.fetch("SELECT slug FROM specialties ORDER BY 1")]
        data = rows(n, datetime.now(UTC), gp, specialists, specialties)
        indexes = [r[0] for r in await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'consults' "
            "AND indexname NOT LIKE '%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%'")]
        names = [r[0] for r in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'consults' "
            "AND indexname NOT LIKE '%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%'")]
        start = time.perf_counter()
        for name in names:
            await conn.execute(f'DROP INDEX "{name}"')
        await conn.copy_records_to_table("consults", records=data, columns=list(COLUMNS))
        for statement in indexes:
            await conn.execute(statement)
        # VACUUM too, as autovacuum would soon after a bulk load: it sets the visibility
        # map, without which every index-only scan (the percentile walks) visits the heap.
        await conn.execute("VACUUM ANALYZE consults")
        return time.perf_counter() - start
    finally:
        await conn.close()


async def _timed(fn: Any, repeat: int) -> float:
    await fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def _measure(settings: Settings, url: str, n: int, repeat: int) -> list[Figure]:
    import asyncpg

    loaded = await _load(url, n)
    db = Database.from_settings(settings)
    from econsult.turnaround import rollups

    start = time.perf_counter()
    await rollups.reconcile(db, datetime.now(UTC))  # the per-day rollups the server keeps
    rollup_s = time.perf_counter() - start
    # The rebuild deleted a whole table's worth of old rollup rows in its transaction:
    # VACUUM them as autovacuum soon would (until then each index read of the rollups
    # also steps over the dead entries: the last 30 days' band rows 3,200 pages
    # instead of 150).
    vacuum = await asyncpg.connect(url)
    try:
        await vacuum.execute(
            "VACUUM ANALYZE turnaround_days, turnaround_day_bands, turnaround_month_bands")
    finally:
        await vacuum.close()
    figures = []
    raw_conn = await asyncpg.connect(url)
    try:
        conn = await asyncpg.connect(url)
        try:
            newest = await conn.fetchval("SELECT max(submitted_at) FROM consults")
            recorded = await conn.fetch(
                "SELECT specialty, urgency, submitted_at, seconds_to_answer, target_seconds "
                "FROM consults WHERE seconds_to_answer IS NOT NULL")
        finally:
            await conn.close()
        for label, f in (("full range", Filters()),
                         ("last 30 days", Filters(start=newest - timedelta(days=30)))):
            async def agg(f: Filters = f) -> aggregates.Summary:
                async with db.read() as s:
                    return await aggregates.summarise(s, f)

            async def scan(f: Filters = f) -> object:
                if f.start is None:
                    return await raw_conn.fetch("SELECT count(*), sum(seconds_to_answer) "
                                                "FROM consults")
                return await raw_conn.fetch("SELECT count(*), sum(seconds_to_answer) FROM "
                                            "consults WHERE submitted_at >= $1", f.start)

            took, raw = await _timed(agg, repeat), await _timed(scan, repeat)
            summary = await agg()
            mismatches = _check(summary, recorded, f)
            figures.append(Figure(
                "pg_turnaround", f"aggregate, {n:,} consults, {label}", took * 1000, "ms",
                raw=raw * 1000, target="(PostgreSQL; SQLite goal <= 300 ms)",
                detail={"rows": n, "copy_and_index_seconds": loaded,
                        "rollup_seconds": rollup_s,
                        "groups": len(summary.groups), "mismatches": mismatches}))
    finally:
        await raw_conn.close()
        await db.dispose()
    return figures


def _check(summary: aggregates.Summary, recorded: list[Any], f: Filters) -> int:
    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(
        lambda: ([], []))
    for r in recorded:
        if f.start is None or r["submitted_at"] >= f.start:
            answers_, targets = groups[(r["specialty"], r["urgency"])]
            answers_.append(r["seconds_to_answer"])
            targets.append(r["target_seconds"])
    bad = 0
    for key, got in summary.groups.items():
        want = stats.summarise(*groups[key])
        if (want.count, want.median, want.p90) != (got.answered, got.median_seconds_to_answer,
                                                   got.p90_seconds_to_answer):
            bad += 1
    return bad


def run(n: int | None = None, repeat: int = 3, admin_url: str = ADMIN_URL) -> list[Figure]:
    if not answers():
        return []
    n = n or int(os.environ.get("ECONSULT_BENCH_PG_CONSULTS", DEFAULT_N))
    name = f"econsult_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory(prefix="econsult-bench-pg-") as tmp:
            sa_url = url.replace("postgresql://", "postgresql+asyncpg://")
            env = {**os.environ, "ECONSULT_DATA_DIR": tmp, "ECONSULT_DATABASE_URL": sa_url}
            # This checkout's econsult (the venv's script may be another checkout's).
            subprocess.run([sys.executable, "-m", "econsult", "demo", "--no-serve",
                            "--consults", "0"], env=env, cwd=ROOT, check=True,
                           capture_output=True, timeout=300)
            from pathlib import Path

            settings = Settings(data_dir=Path(tmp), database_url=sa_url)
            return asyncio.run(_measure(settings, url, n, repeat))
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    if not answers():
        print("PostgreSQL does not answer on 127.0.0.1:5432: nothing measured")
        return
    for f in run():
        print(f.as_dict())


if __name__ == "__main__":
    main()
