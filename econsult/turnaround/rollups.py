"""Per-day rollups of the turnaround counts, kept by a job and reconciled, so a range of
the dashboard reads one row per day and group instead of every consult in it
(`rollup_reads` reads them).

`turnaround_days` holds, per UTC day of submission, specialty and urgency, the counts
`aggregates.Stats` adds up (consults, answered, within target, outcomes, referrals
avoided, usefulness); `turnaround_day_bands` the answered ones per band of time to
answer (`bands`), from which a range's percentiles are located, and
`turnaround_month_bands` those summed per calendar month (for long ranges). Every
change to what they count goes through a step that sets
`consults.updated_at` (answer, close, reroute, convert: `consults.steps`), so
`refresh` recomputes exactly the days of the consults changed since the watermark,
and `rebuild` recomputes everything (at start, and as the reconciliation).

Reading is exact whatever the job's lag: `counts` takes from the rollups only the whole
days inside the range that no consult changed after the watermark, and counts the rest
(the range's partial first and last day, and those "dirty" days) from the consults
themselves. The watermark is kept `MARGIN` behind the newest change seen, so a
transaction still in flight while the job ran (its `updated_at` earlier than what the
job saw) is still treated as dirty until the next pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, case, cast, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
from econsult.models import (
    Consult,
    RollupState,
    TurnaroundDay,
    TurnaroundDayBand,
    TurnaroundMonthBand,
)
from econsult.turnaround.bands import band_of

MARGIN = timedelta(minutes=5)
REFRESH_EVERY = 60.0  # seconds between refreshes in a running server
COUNT_FIELDS = ("count", "answered", "within", "outcomes", "avoided", "usefulness_n",
                "usefulness_sum")  # columns of turnaround_days, fields of aggregates.Stats


def _day_expr(db: AsyncSession) -> Any:
    """The UTC calendar day of submitted_at, in SQL (stored as UTC on both backends)."""
    submitted = col(Consult.submitted_at)
    if db.bind is not None and db.bind.dialect.name == "sqlite":
        return func.date(submitted)
    return cast(func.timezone("UTC", submitted), Date)


def band_expr(db: AsyncSession) -> Any:
    """The band of seconds_to_answer (`bands`: the expression the band index holds)."""
    return band_of(db.bind.dialect.name if db.bind is not None else "sqlite")


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _month_expr(db: AsyncSession) -> Any:
    """The first day of the month of turnaround_day_bands.day, in SQL."""
    day = col(TurnaroundDayBand.day)
    if db.bind is not None and db.bind.dialect.name == "sqlite":
        return func.date(day, "start of month")
    return cast(func.date_trunc("month", day), Date)


async def _recompute_months(db: AsyncSession, months: Sequence[date] | None) -> None:
    """Replace the month band rows of `months` (every month when None) with the sums of
    their day band rows (which the caller has just recomputed)."""
    m, b = TurnaroundMonthBand, TurnaroundDayBand
    month = _month_expr(db)
    keys = (col(b.specialty), col(b.urgency), col(b.band))
    # In key order: on PostgreSQL a month's rows then share a few heap pages (a read of
    # one month visits those, not a page per row).
    source = select(month.label("month"), *keys, func.sum(col(b.n))).group_by(month, *keys) \
        .order_by(month, *keys)
    into = ["month", "specialty", "urgency", "band", "n"]
    if months is None:
        await db.execute(delete(m))
        await db.execute(insert(m).from_select(into, source))
        return
    for first in months:
        await db.execute(delete(m).where(col(m.month) == first))
        await db.execute(insert(m).from_select(into, source.where(
            col(b.day) >= first, col(b.day) < next_month(first))))


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def count_if(condition: ColumnElement[bool]) -> Any:
    """How many rows meet `condition` (0, not NULL, when none do)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def aggregate_columns() -> list[Any]:
    c = Consult
    answered = col(c.seconds_to_answer).is_not(None)
    return [
        func.count(),
        func.count(col(c.seconds_to_answer)),
        count_if(and_(answered, col(c.within_target).is_(True))),
        func.count(col(c.outcome)),
        count_if(col(c.outcome) == "referral_avoided"),
        func.count(col(c.usefulness)),
        func.coalesce(func.sum(col(c.usefulness)), 0),
    ]


async def _recompute(db: AsyncSession, days: Sequence[date] | None, *,
                     between: tuple[date, date] | None = None) -> None:
    """Replace the rows of `days` (every day when None) with counts from the consults;
    `between` (first day, day after the last): insert the days of that span only,
    whose rows the caller has already removed."""
    day = _day_expr(db)
    keys = (col(Consult.specialty), col(Consult.urgency))
    source = select(day.label("day"), *keys, *aggregate_columns())
    band = band_expr(db)
    bands = select(day.label("day"), *keys, band.label("band"), func.count()) \
        .where(col(Consult.seconds_to_answer).is_not(None))
    spans: list[list[ColumnElement[bool]]] = [[]]
    if between is not None:
        spans = [[col(Consult.submitted_at) >= midnight(between[0]),
                  col(Consult.submitted_at) < midnight(between[1])]]
    elif days is None:
        await db.execute(delete(TurnaroundDay))
        await db.execute(delete(TurnaroundDayBand))
    else:
        spans = []
        for one in days:
            await db.execute(delete(TurnaroundDay).where(col(TurnaroundDay.day) == one))
            await db.execute(delete(TurnaroundDayBand).where(col(TurnaroundDayBand.day) == one))
            start = midnight(one)
            spans.append([col(Consult.submitted_at) >= start,
                          col(Consult.submitted_at) < start + timedelta(days=1)])
    # Inserted in key order, so on PostgreSQL a day's rows share a few heap pages: a
    # read of one day's band rows visited a page per row (946 pages for 1,120 rows).
    for where in spans:
        await db.execute(insert(TurnaroundDay).from_select(
            ["day", "specialty", "urgency", *COUNT_FIELDS],
            source.where(*where).group_by(day, *keys).order_by(day, *keys)))
        await db.execute(insert(TurnaroundDayBand).from_select(
            ["day", "specialty", "urgency", "band", "n"],
            bands.where(*where).group_by(day, *keys, band).order_by(day, *keys, band)))


async def _newest_change(db: AsyncSession) -> datetime | None:
    from econsult.models.types import UTCDateTime

    value = (await db.execute(select(func.max(col(Consult.updated_at))))).scalar()
    if value is None:
        return None
    # func.max() loses the column type on SQLite: normalise to aware UTC.
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]


_LOCK = 18_2026  # PostgreSQL advisory lock: one process at a time keeps the rollups


async def _exclusive(session: AsyncSession) -> bool:
    """On PostgreSQL, whether this transaction got the rollups' advisory lock (another
    worker holding it is doing the same work); SQLite's writer lock already orders."""
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return True
    return bool((await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                       {"k": _LOCK})).scalar())


async def rebuild(db: Database, now: datetime) -> bool:
    """Every day and month from the consults. On PostgreSQL in one transaction (it
    blocks no other writer); on SQLite a calendar month per write transaction, so the
    single writer is held for one month's pass at a time (a 10M history takes about a
    minute in all). The rollups are not read until the last transaction writes the
    state; what changes meanwhile is newer than the watermark, so it counts as dirty
    until refreshed. Returns False when another worker holds the rollups (PostgreSQL)."""
    if not db.is_sqlite:
        async with db.write() as session:
            if not await _exclusive(session):
                return False
            newest = await _newest_change(session) or now
            await _recompute(session, None)
            await _recompute_months(session, None)
            await _set_state(session, built_at=now, watermark=newest - MARGIN)
            # Fresh statistics for the planner (autovacuum would take a while): without
            # them it guesses 200 rows a group and plans the range reads in parallel.
            await session.execute(text(
                "ANALYZE turnaround_days, turnaround_day_bands, turnaround_month_bands"))
        return True
    async with db.write() as session:
        newest = await _newest_change(session) or now
        for table in (RollupState, TurnaroundDay, TurnaroundDayBand, TurnaroundMonthBand):
            await session.execute(delete(table))
        submitted = col(Consult.submitted_at)
        first, last = (await session.execute(select(
            select(func.min(submitted)).scalar_subquery(),
            select(func.max(submitted)).scalar_subquery()))).one()
    if first is not None and last is not None:
        month, end = month_of(_as_date(first)), _as_date(last) + timedelta(days=1)
        while month < end:
            async with db.write() as session:
                await _recompute(session, None, between=(month, next_month(month)))
                await _recompute_months(session, [month])
            month = next_month(month)
    async with db.write() as session:
        await _set_state(session, built_at=now, watermark=newest - MARGIN)
    return True


async def refresh(db: Database, now: datetime) -> int:
    """Recompute the days of the consults changed since the watermark (everything if
    never built); returns the number of days recomputed."""
    async with db.read() as session:
        built = await session.get(RollupState, 1) is not None
    if not built:
        return -1 if await rebuild(db, now) else 0
    async with db.write() as session:
        if not await _exclusive(session):
            return 0
        state = await session.get(RollupState, 1)
        newest = await _newest_change(session) or now
        if state is None:  # another worker is rebuilding
            return 0
        days = await dirty_days(session, state.watermark)
        await _recompute(session, days)
        await _recompute_months(session, sorted({month_of(d) for d in days}))
        await _set_state(session, built_at=state.built_at,
                         watermark=max(state.watermark, newest - MARGIN))
        return len(days)


async def _set_state(db: AsyncSession, *, built_at: datetime, watermark: datetime) -> None:
    state = await db.get(RollupState, 1)
    if state is None:
        db.add(RollupState(id=1, built_at=built_at, watermark=watermark))
    else:
        state.built_at, state.watermark = built_at, watermark


async def dirty_days(db: AsyncSession, watermark: datetime) -> list[date]:
    day = _day_expr(db)
    found = (await db.execute(select(day).where(col(Consult.updated_at) > watermark)
                              .distinct())).scalars()
    return sorted(_as_date(d) for d in found if d is not None)


def _as_date(value: object) -> date:
    """A day from a date, a datetime (on PostgreSQL, min(submitted_at)) or SQLite's text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def reconcile(db: Database, now: datetime) -> bool:
    """At start: rebuild everything when the rollups do not add up to the consults
    (rows written around the services, such as a bulk load); returns whether it did."""
    async with db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Consult))).scalar()
        rolled = (await session.execute(select(func.coalesce(func.sum(
            col(TurnaroundDay.count)), 0)))).scalar()
        by_day, by_month = (await session.execute(select(
            select(func.coalesce(func.sum(col(TurnaroundDayBand.n)), 0)).scalar_subquery(),
            select(func.coalesce(func.sum(col(TurnaroundMonthBand.n)), 0)).scalar_subquery(),
        ))).one()
        built = await session.get(RollupState, 1) is not None
    if built and int(total or 0) == int(rolled or 0) and int(by_day) == int(by_month):
        return False
    await rebuild(db, now)
    return True


async def maintain(db: Database, clock: Any, every: float = REFRESH_EVERY) -> None:
    """The server's job: reconcile once, then refresh every `every` seconds."""
    import asyncio
    import logging

    log = logging.getLogger(__name__)
    try:
        await reconcile(db, clock.now())
    except Exception:  # the figures are still exact without rollups; retry below
        log.exception("turnaround rollups: reconcile failed")
    while True:
        await asyncio.sleep(every)
        try:
            await refresh(db, clock.now())
        except Exception:
            log.exception("turnaround rollups: refresh failed")
