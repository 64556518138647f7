"""Per-day rollups of the turnaround counts, kept by a job and reconciled, so a range of
the dashboard reads one row per day and group instead of every consult in it.

`turnaround_days` holds, per UTC day of submission, specialty and urgency, the counts
`aggregates.Stats` adds up (consults, answered, within target, outcomes, referrals
avoided, usefulness); `turnaround_day_bands` the answered ones per band of time to
answer (`bands`), from which a small range's percentiles are located. Every
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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
from econsult.models import Consult, RollupState, TurnaroundDay, TurnaroundDayBand
from econsult.turnaround.bands import band_of
from econsult.turnaround.filters import Filters, where_of

MARGIN = timedelta(minutes=5)
REFRESH_EVERY = 60.0  # seconds between refreshes in a running server
COUNT_FIELDS = ("count", "answered", "within", "outcomes", "avoided", "usefulness_n",
                "usefulness_sum")  # columns of turnaround_days, fields of aggregates.Stats
_COUNTS = COUNT_FIELDS


def _day_expr(db: AsyncSession) -> Any:
    """The UTC calendar day of submitted_at, in SQL (stored as UTC on both backends)."""
    submitted = col(Consult.submitted_at)
    if db.bind is not None and db.bind.dialect.name == "sqlite":
        return func.date(submitted)
    return cast(func.timezone("UTC", submitted), Date)


def band_expr(db: AsyncSession) -> Any:
    """The band of seconds_to_answer (`bands`: the expression the band index holds)."""
    return band_of(db.bind.dialect.name if db.bind is not None else "sqlite")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _one_if(condition: ColumnElement[bool]) -> Any:
    from sqlalchemy import case

    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _aggregates() -> list[Any]:
    c = Consult
    answered = col(c.seconds_to_answer).is_not(None)
    return [
        func.count(),
        func.count(col(c.seconds_to_answer)),
        _one_if(and_(answered, col(c.within_target).is_(True))),
        func.count(col(c.outcome)),
        _one_if(col(c.outcome) == "referral_avoided"),
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
    source = select(day.label("day"), *keys, *_aggregates())
    band = band_expr(db)
    bands = select(day.label("day"), *keys, band.label("band"), func.count()) \
        .where(col(Consult.seconds_to_answer).is_not(None))
    spans: list[list[ColumnElement[bool]]] = [[]]
    if between is not None:
        spans = [[col(Consult.submitted_at) >= _midnight(between[0]),
                  col(Consult.submitted_at) < _midnight(between[1])]]
    elif days is None:
        await db.execute(delete(TurnaroundDay))
        await db.execute(delete(TurnaroundDayBand))
    else:
        spans = []
        for one in days:
            await db.execute(delete(TurnaroundDay).where(col(TurnaroundDay.day) == one))
            await db.execute(delete(TurnaroundDayBand).where(col(TurnaroundDayBand.day) == one))
            start = _midnight(one)
            spans.append([col(Consult.submitted_at) >= start,
                          col(Consult.submitted_at) < start + timedelta(days=1)])
    for where in spans:
        await db.execute(insert(TurnaroundDay).from_select(
            ["day", "specialty", "urgency", *_COUNTS], source.where(*where).group_by(day, *keys)))
        await db.execute(insert(TurnaroundDayBand).from_select(
            ["day", "specialty", "urgency", "band", "n"],
            bands.where(*where).group_by(day, *keys, band)))


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
    from sqlalchemy import text

    return bool((await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                       {"k": _LOCK})).scalar())


CHUNK_DAYS = 31  # SQLite: days recomputed per write transaction in a full rebuild


async def rebuild(db: Database, now: datetime) -> bool:
    """Every day from the consults. On PostgreSQL in one transaction (it blocks no
    other writer); on SQLite a month per write transaction, so the single writer is
    held for one month's pass at a time (a 10M history takes ~30 s in all). The
    rollups are not read until the last transaction writes the state; what changes
    meanwhile is newer than the watermark, so it counts as dirty until refreshed.
    Returns False when another worker holds the rollups (PostgreSQL)."""
    if not db.is_sqlite:
        async with db.write() as session:
            if not await _exclusive(session):
                return False
            newest = await _newest_change(session) or now
            await _recompute(session, None)
            await _set_state(session, built_at=now, watermark=newest - MARGIN)
        return True
    async with db.write() as session:
        newest = await _newest_change(session) or now
        for table in (RollupState, TurnaroundDay, TurnaroundDayBand):
            await session.execute(delete(table))
        submitted = col(Consult.submitted_at)
        first, last = (await session.execute(select(
            select(func.min(submitted)).scalar_subquery(),
            select(func.max(submitted)).scalar_subquery()))).one()
    if first is not None and last is not None:
        day, end = _as_date(first), _as_date(last) + timedelta(days=1)
        while day < end:
            upto = min(day + timedelta(days=CHUNK_DAYS), end)
            async with db.write() as session:
                await _recompute(session, None, between=(day, upto))
            day = upto
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
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


Bands = dict[tuple[str, str], dict[int, int]]


@dataclass
class Rolled:
    """Per (specialty, urgency): the `COUNT_FIELDS`, and answered consults per band."""

    counts: dict[tuple[str, str], list[int]]
    bands: Bands


async def counts(db: AsyncSession, filters: Filters, *, bands: bool = False
                 ) -> Rolled | None:
    """The `COUNT_FIELDS` and the bands per (specialty, urgency) of the consults
    `filters` selects, exactly (the bands only when asked: over a long range they are
    many rows); None when the rollups have never been built (then count from the
    consults)."""
    state = await db.get(RollupState, 1)
    if state is None:
        return None
    start, end = filters.start, filters.end
    first_full = None if start is None else (
        start.astimezone(UTC).date() if start == _midnight(start.astimezone(UTC).date())
        else start.astimezone(UTC).date() + timedelta(days=1))
    after_full = None if end is None else end.astimezone(UTC).date()  # exclusive
    if first_full is not None and after_full is not None and first_full >= after_full:
        return await _direct(db, filters, [], bands)  # less than a whole day
    dirty = [d for d in await dirty_days(db, state.watermark)
             if (first_full is None or d >= first_full)
             and (after_full is None or d < after_full)]
    def on(table: Any) -> list[ColumnElement[bool]]:
        day = col(table.day)
        clauses: list[ColumnElement[bool]] = []
        if first_full is not None:
            clauses.append(day >= first_full)
        if after_full is not None:
            clauses.append(day < after_full)
        if dirty:
            clauses.append(day.not_in(dirty))
        if filters.specialty:
            clauses.append(col(table.specialty) == filters.specialty)
        if filters.urgency:
            clauses.append(col(table.urgency) == filters.urgency)
        return clauses

    clauses = on(TurnaroundDay)
    stmt = select(col(TurnaroundDay.specialty), col(TurnaroundDay.urgency),
                  *(func.sum(getattr(TurnaroundDay, n)) for n in _COUNTS)) \
        .where(*clauses).group_by(col(TurnaroundDay.specialty), col(TurnaroundDay.urgency))
    found: dict[tuple[str, str], list[int]] = {}
    for row in (await db.execute(stmt)).all():
        found[(row[0], row[1])] = [int(v or 0) for v in row[2:]]
    b = TurnaroundDayBand
    counted_bands: Bands = {}
    for row in [] if not bands else (await db.execute(
            select(col(b.specialty), col(b.urgency), col(b.band), func.sum(col(b.n)))
            .where(*on(b)).group_by(col(b.specialty), col(b.urgency), col(b.band)))).all():
        counted_bands.setdefault((row[0], row[1]), {})[int(row[2])] = int(row[3] or 0)
    # What the whole clean days do not cover: the partial edges and the dirty days.
    spans: list[tuple[datetime | None, datetime | None]] = []
    if first_full is not None and start is not None and _midnight(first_full) > start:
        spans.append((start, _midnight(first_full)))
    if after_full is not None and end is not None and _midnight(after_full) < end:
        spans.append((_midnight(after_full), end))
    spans += [(_midnight(d), _midnight(d) + timedelta(days=1)) for d in dirty]
    if spans:
        extra = await _direct(db, filters, spans, bands)
        for key, values in extra.counts.items():
            have = found.setdefault(key, [0] * len(_COUNTS))
            for i, v in enumerate(values):
                have[i] += v
        for key, counted in extra.bands.items():
            mine = counted_bands.setdefault(key, {})
            for band, n in counted.items():
                mine[band] = mine.get(band, 0) + n
    kept = {k: v for k, v in found.items() if v[0]}
    return Rolled(kept, {k: v for k, v in counted_bands.items() if k in kept})


async def _direct(db: AsyncSession, filters: Filters,
                  spans: Iterable[tuple[datetime | None, datetime | None]],
                  with_bands: bool) -> Rolled:
    """Counts from the consults: of the whole filter when `spans` is empty, else of the
    parts of it inside the spans."""
    where = where_of(filters)
    # One statement per span: each a plain range on submitted_at (an OR of ranges would
    # not reach the index on SQLite).
    parts: list[list[ColumnElement[bool]]] = [
        [*([col(Consult.submitted_at) >= a] if a else []),
         *([col(Consult.submitted_at) < b] if b else [])] for a, b in spans] or [[]]
    found: dict[tuple[str, str], list[int]] = {}
    bands: Bands = {}
    keys = (col(Consult.specialty), col(Consult.urgency))
    band = band_expr(db)
    for part in parts:
        stmt = select(*keys, *_aggregates()).where(*where, *part).group_by(*keys)
        for r in (await db.execute(stmt)).all():
            have = found.setdefault((r[0], r[1]), [0] * len(_COUNTS))
            for i, v in enumerate(r[2:]):
                have[i] += int(v or 0)
        if not with_bands:
            continue
        stmt = select(*keys, band, func.count()).where(
            *where, *part, col(Consult.seconds_to_answer).is_not(None)).group_by(*keys, band)
        for r in (await db.execute(stmt)).all():
            mine = bands.setdefault((r[0], r[1]), {})
            mine[int(r[2])] = mine.get(int(r[2]), 0) + int(r[3] or 0)
    return Rolled(found, bands)


async def reconcile(db: Database, now: datetime) -> bool:
    """At start: rebuild everything when the rollups do not add up to the consults
    (rows written around the services, such as a bulk load); returns whether it did."""
    async with db.read() as session:
        total = (await session.execute(select(func.count()).select_from(Consult))).scalar()
        rolled = (await session.execute(select(func.coalesce(func.sum(
            col(TurnaroundDay.count)), 0)))).scalar()
        built = await session.get(RollupState, 1) is not None
    if built and int(total or 0) == int(rolled or 0):
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
