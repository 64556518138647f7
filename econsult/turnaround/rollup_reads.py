"""Reading a range's counts and answer bands through the rollups, exactly.

Whole days inside the range that no consult changed after the watermark come from
`turnaround_days` (and their bands from `turnaround_day_bands`, or, for whole calendar
months with no such change, from `turnaround_month_bands`); the range's partial first
and last day, and the "dirty" days, are counted from the consults themselves. So the
figures are exact whatever the rollup job's lag (`rollups`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db.core import Reader, core_rows, side_by_side
from econsult.models import (
    RollupState,
    TurnaroundDay,
    TurnaroundDayBand,
    TurnaroundMonthBand,
)
from econsult.turnaround import from_consults
from econsult.turnaround.bands import Bands
from econsult.turnaround.filters import Filters
from econsult.turnaround.rollups import (
    COUNT_FIELDS,
    dirty_days,
    midnight,
    month_of,
    next_month,
)

NO_MONTH_AFTER = date(9999, 1, 1)  # later than any month a rollup row can hold


@dataclass
class Rolled:
    """Per (specialty, urgency): the `COUNT_FIELDS`, and answered consults per band."""

    counts: dict[tuple[str, str], list[int]]
    bands: Bands


@dataclass(frozen=True)
class _Days:
    """The whole clean days of a range: [first, after) (None: unbounded), less `dirty`."""

    first: date | None
    after: date | None
    dirty: list[date]

    def on(self, day: Any, filters: Filters, table: Any, *, low: date | None = None,
           high: date | None = None) -> list[ColumnElement[bool]]:
        """The clean days within [low, high) too: one lower and one upper bound (with
        two, SQLite seeks by the first written, not the tighter)."""
        clauses: list[ColumnElement[bool]] = []
        first = self.first if low is None or (self.first is not None and self.first > low) \
            else low
        after = self.after if high is None or (self.after is not None and self.after < high) \
            else high
        if first is not None:
            clauses.append(day >= first)
        if after is not None:
            clauses.append(day < after)
        if self.dirty:
            clauses.append(day.not_in(self.dirty))
        if filters.specialty:
            clauses.append(col(table.specialty) == filters.specialty)
        if filters.urgency:
            clauses.append(col(table.urgency) == filters.urgency)
        return clauses


async def counts(db: AsyncSession, filters: Filters) -> Rolled | None:
    """The `COUNT_FIELDS` and the bands per (specialty, urgency) of the consults
    `filters` selects, exactly; None when the rollups have never been built (then
    count from the consults)."""
    state = await db.get(RollupState, 1)
    if state is None:
        return None
    start, end = filters.start, filters.end
    first_full = None if start is None else (
        start.astimezone(UTC).date() if start == midnight(start.astimezone(UTC).date())
        else start.astimezone(UTC).date() + timedelta(days=1))
    after_full = None if end is None else end.astimezone(UTC).date()  # exclusive
    if first_full is not None and after_full is not None and first_full >= after_full:
        return Rolled(*await from_consults.counted(db, filters, []))  # < a day
    dirty = [d for d in await dirty_days(db, state.watermark)
             if (first_full is None or d >= first_full)
             and (after_full is None or d < after_full)]
    days = _Days(first_full, after_full, dirty)
    # What the whole clean days do not cover: the partial edges and the dirty days,
    # counted from the consults beside the rollup rows (at once on PostgreSQL).
    spans: list[tuple[datetime | None, datetime | None]] = []
    if first_full is not None and start is not None and midnight(first_full) > start:
        spans.append((start, midnight(first_full)))
    if after_full is not None and end is not None and midnight(after_full) < end:
        spans.append((midnight(after_full), end))
    spans += [(midnight(d), midnight(d) + timedelta(days=1)) for d in dirty]

    async def rolled() -> tuple[dict[tuple[str, str], list[int]], Bands]:
        return await _day_counts(db, filters, days), await _rolled_bands(db, filters, days)

    async def direct(reader: Reader) -> tuple[dict[tuple[str, str], list[int]], Bands]:
        return await from_consults.counted(reader, filters, spans) if spans else ({}, {})

    (found, counted_bands), (extra, extra_bands) = await side_by_side(db, rolled, direct)
    for key, values in extra.items():
        have = found.setdefault(key, [0] * len(COUNT_FIELDS))
        for i, v in enumerate(values):
            have[i] += v
    _add_bands(counted_bands, extra_bands)
    kept = {k: v for k, v in found.items() if v[0]}
    return Rolled(kept, {k: v for k, v in counted_bands.items() if k in kept})


async def _day_counts(db: AsyncSession, filters: Filters, days: _Days
                      ) -> dict[tuple[str, str], list[int]]:
    """The `COUNT_FIELDS` of the whole clean days, per group."""
    t = TurnaroundDay
    stmt = select(col(t.specialty), col(t.urgency),
                  *(func.sum(getattr(t, n)) for n in COUNT_FIELDS)) \
        .where(*days.on(col(t.day), filters, t)).group_by(col(t.specialty), col(t.urgency))
    return {(row[0], row[1]): [int(v or 0) for v in row[2:]]
            for row in await core_rows(db, stmt)}


def _month_span(first: date | None, after: date | None) -> tuple[date | None, date | None]:
    """[from, to) of the months whose rows a range of days reads (None: unbounded): the
    months wholly inside, and an edge month mostly inside too (its days outside the
    range are then subtracted). Empty (from >= to) when the days lie in one month."""
    if first is not None and after is not None and \
            month_of(first) == month_of(after - timedelta(days=1)):
        return first, first  # within one month: day rows only
    start = None
    if first is not None:
        length = (next_month(first) - month_of(first)).days
        inside = (next_month(first) - first).days
        start = month_of(first) if inside * 2 > length else next_month(first)
    end = None
    if after is not None:
        last = after - timedelta(days=1)
        length = (next_month(last) - month_of(last)).days
        end = next_month(last) if last.day * 2 > length else month_of(after)
    return start, end


async def _rolled_bands(db: AsyncSession, filters: Filters, days: _Days) -> Bands:
    """The bands of the whole clean days. Months mostly inside the range come from the
    month rows, less the day rows of their days that are outside the range or changed
    since the watermark (a month row is the sum of its day rows, recomputed together,
    so the difference is exact); the other days from the day rows. One statement: a
    UNION ALL of plain ranges, each signed (an OR of ranges would not reach the key's
    order on SQLite)."""
    m_start, m_end = _month_span(days.first, days.after)
    b, m = TurnaroundDayBand, TurnaroundMonthBand
    day = col(b.day)
    if m_start is not None and m_end is not None and m_start >= m_end:
        return await _band_rows(db, [(b, days.on(day, filters, b), 1)])
    legs: list[tuple[Any, list[ColumnElement[bool]], int]] = [
        (m, _month_filters(col(m.month), filters, m, m_start, m_end), 1)]
    # Added: the days before and after the months. Subtracted: the months' days
    # outside the range, and their dirty days (counted from the consults instead).
    if days.first is not None and m_start is not None and days.first < m_start:
        legs.append((b, days.on(day, filters, b, low=days.first, high=m_start), 1))
    if days.after is not None and m_end is not None and m_end < days.after:
        legs.append((b, days.on(day, filters, b, low=m_end, high=days.after), 1))
    if days.first is not None and m_start is not None and m_start < days.first:
        legs.append((b, [day >= m_start, day < days.first, *_group_filters(filters, b)], -1))
    if days.after is not None and m_end is not None and days.after < m_end:
        legs.append((b, [day >= days.after, day < m_end, *_group_filters(filters, b)], -1))
    inside = [d for d in days.dirty if (m_start is None or d >= m_start)
              and (m_end is None or d < m_end)]
    if inside:
        legs.append((b, [day.in_(inside), *_group_filters(filters, b)], -1))
    return await _band_rows(db, legs)


def _group_filters(filters: Filters, table: Any) -> list[ColumnElement[bool]]:
    return [*([col(table.specialty) == filters.specialty] if filters.specialty else []),
            *([col(table.urgency) == filters.urgency] if filters.urgency else [])]


def _month_filters(month: Any, filters: Filters, table: Any, start: date | None,
                   end: date | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if start is not None:
        clauses.append(month >= start)
        # An upper bound even when the range has none: with one bound SQLite walks the
        # whole table in its key order (to group without sorting: 8 ms at 10M, growing
        # with the history); with two it seeks the (month, n) index (1 ms).
        clauses.append(month < (end if end is not None else NO_MONTH_AFTER))
    elif end is not None:
        clauses.append(month < end)
    if filters.specialty:
        clauses.append(col(table.specialty) == filters.specialty)
    if filters.urgency:
        clauses.append(col(table.urgency) == filters.urgency)
    return clauses


async def _band_rows(db: AsyncSession,
                     legs: Sequence[tuple[Any, Sequence[ColumnElement[bool]], int]]) -> Bands:
    """Answers per group and band: the sum over `legs` of (table, clauses, sign), each
    a day or month band table's rows the clauses select, in one statement."""
    selects = [
        select(col(t.specialty), col(t.urgency), col(t.band),
               (func.sum(col(t.n)) * sign).label("n"))
        .where(*clauses).group_by(col(t.specialty), col(t.urgency), col(t.band))
        for t, clauses, sign in legs]
    if len(selects) == 1:
        return _summed(await core_rows(db, selects[0]))
    # Summed across the legs in SQL too: half the rows to hand back (as integers: a
    # sum of sums is NUMERIC on PostgreSQL).
    legs_ = union_all(*selects).subquery()
    keys = (legs_.c.specialty, legs_.c.urgency, legs_.c.band)
    return _summed(await core_rows(
        db, select(*keys, cast(func.sum(legs_.c.n), BigInteger)).group_by(*keys)))


def _summed(rows: Iterable[Any]) -> Bands:
    """(specialty, urgency, band, n) rows, one per group and band, as Bands, zero
    counts left out (a month's row less its days outside the range can be 0)."""
    found: Bands = {}
    for specialty, urgency, band, n in rows:
        if n:
            key = (specialty, urgency)
            mine = found.get(key)
            if mine is None:
                mine = found[key] = {}
            mine[band] = n
    return found


def _add_bands(into: Bands, more: Bands) -> None:
    for key, counted in more.items():
        mine = into.setdefault(key, {})
        for band, n in counted.items():
            mine[band] = mine.get(band, 0) + n
