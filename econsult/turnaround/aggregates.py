"""Turnaround aggregates computed in SQL, over the columns lifecycle keeps per consult.

The same queries run on SQLite and PostgreSQL. Percentiles are nearest-rank, as
`econsult.turnaround.stats` defines them: within each group the answered consults are
numbered by `seconds_to_answer` (ROW_NUMBER() OVER ...) and the ⌈n·p⌉-th is picked,
with ⌈n·p⌉ computed exactly in integers as (n·num + den - 1) / den.

Definitions of the counts:
- `count`: consults submitted in [from, to) matching the filters; `answered`: those
  with a time to answer (the clock the target uses, kept by lifecycle at the answer).
- `within_target_pct`: % of answered consults whose `within_target` is true.
- `open`: consults still open now (assigned, pooled, in review, awaiting the GP);
  `at_risk`: open ones past the at-risk mark but not breached; `breached`: open ones
  past their response deadline. Both describe "now", so a live dashboard can count down.
- `referral_avoided_pct`: % of consults closed with an outcome whose outcome is
  `referral_avoided`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db.core import Reader, core_rows, side_by_side
from econsult.models import OPEN_STATES, Consult
from econsult.turnaround import percentiles, rollup_reads, rollups
from econsult.turnaround.filters import Filters, where_of
from econsult.turnaround.percentiles import Key

CONTRACT_FIELDS = (
    "count", "answered", "median_seconds_to_answer", "p90_seconds_to_answer",
    "within_target_pct", "open", "at_risk", "breached", "referral_avoided_pct",
)  # fmt: skip


@dataclass
class Stats:
    count: int = 0
    answered: int = 0
    within: int = 0
    open: int = 0
    at_risk: int = 0
    breached: int = 0
    outcomes: int = 0
    avoided: int = 0
    usefulness_n: int = 0
    usefulness_sum: int = 0
    median_seconds_to_answer: float | None = None
    p90_seconds_to_answer: float | None = None

    @property
    def within_target_pct(self) -> float | None:
        return _pct(self.within, self.answered)

    @property
    def referral_avoided_pct(self) -> float | None:
        return _pct(self.avoided, self.outcomes)

    @property
    def mean_usefulness(self) -> float | None:
        return None if not self.usefulness_n else self.usefulness_sum / self.usefulness_n

    def public(self) -> dict[str, Any]:
        """The contract's fields (see the module docstring), in its order."""
        return {name: getattr(self, name) for name in CONTRACT_FIELDS}

    def full(self) -> dict[str, Any]:
        return {**asdict(self), **self.public(), "mean_usefulness": self.mean_usefulness}


@dataclass
class Summary:
    groups: dict[tuple[str, str], Stats] = field(default_factory=dict)
    totals: Stats = field(default_factory=Stats)

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": [
                {"specialty": sp, "urgency": ur, **stats.public()}
                for (sp, ur), stats in self.groups.items()
            ],
            "totals": self.totals.public(),
        }


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


async def _column_counts(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                        keys: Sequence[ColumnElement[Any]]) -> dict[Key, Stats]:
    """The counts per key, one aggregate per figure: for any grouping and range."""
    stmt = select(*keys, *rollups.aggregate_columns()).where(*where)
    if keys:
        stmt = stmt.group_by(*keys)
    found: dict[Key, Stats] = {}
    for row in await core_rows(db, stmt):
        key = tuple(row[: len(keys)])
        n, answered_n, within, outcomes, avoided, useful_n, useful_sum = (
            int(v or 0) for v in row[len(keys):])
        if n:
            found[key] = Stats(count=n, answered=answered_n, within=within, outcomes=outcomes,
                               avoided=avoided, usefulness_n=useful_n,
                               usefulness_sum=useful_sum)
    return found


FLAG_COLUMNS: tuple[ColumnElement[Any], ...] = tuple(
    Consult.__table__.c[name]  # type: ignore[attr-defined]
    for name in ("within_target", "outcome", "usefulness"))


async def _flag_counts(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                       keys: Sequence[ColumnElement[Any]]) -> dict[Key, Stats]:
    """The same counts as `_column_counts`, grouped further by within_target, outcome and
    usefulness (a few hundred groups) and added up here: per row the database only
    counts, instead of evaluating seven aggregates. With `keys` = (specialty, urgency)
    ix_consults_turnaround_flags hands the rows over in that order, so SQLite walks it
    once without sorting: 1,000,000 consults in ~145 ms instead of ~245 ms. A date range
    is a plain filter on that walk: see `_plan` for when it pays."""
    stmt = select(
        *keys, *FLAG_COLUMNS, func.count(), func.count(col(Consult.seconds_to_answer)),
    ).where(*where).group_by(*keys, *FLAG_COLUMNS)
    found: dict[Key, Stats] = {}
    for row in await core_rows(db, stmt):
        key = tuple(row[: len(keys)])
        within, outcome, usefulness, n, answered = row[len(keys):]
        stats = found.setdefault(key, Stats())
        stats.count += n
        stats.answered += answered
        if within is True:  # `answered AND within_target IS TRUE`, as _column_counts
            stats.within += answered
        if outcome is not None:
            stats.outcomes += n
            if outcome == "referral_avoided":
                stats.avoided += n
        if usefulness is not None:
            stats.usefulness_n += n
            stats.usefulness_sum += usefulness * n
    return found


async def _counts(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                  keys: Sequence[ColumnElement[Any]], *, by_flags: bool = False,
                  open_where: Sequence[ColumnElement[bool]] | None = None
                  ) -> dict[Key, Stats]:
    """Counts per key. `open_where`, when given, selects the same consults as `where`
    for the open ones (where_of(..., hide_range=True))."""
    found = await _history_counts(db, where, keys, by_flags=by_flags)
    _add_open(found, await _open_counts(db, where if open_where is None else open_where,
                                        keys))
    return found


async def _history_counts(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                          keys: Sequence[ColumnElement[Any]], *, by_flags: bool
                          ) -> dict[Key, Stats]:
    if by_flags:
        return await _flag_counts(db, where, keys)
    return await _column_counts(db, where, keys)


OpenNow = dict[Key, tuple[int, int, int]]  # open, at risk, breached


async def _open_counts(db: Reader, where: Sequence[ColumnElement[bool]],
                       keys: Sequence[ColumnElement[Any]]) -> OpenNow:
    """The open, at-risk and breached counts (now) per key."""
    c = Consult
    # Open consults are few: counted apart, through the index on state, to keep the
    # scan over every consult as light as possible.
    is_open = col(c.state).in_([s.value for s in OPEN_STATES])
    # Grouped by state first, so the planner reads the few open rows through the state
    # index instead of walking a (specialty, urgency) index over every consult.
    live = select(
        col(c.state),
        *keys,
        func.count(),
        rollups.count_if(and_(col(c.at_risk_at).is_not(None), col(c.breached_at).is_(None))),
        func.count(col(c.breached_at)),
    ).where(*where, is_open)
    live = live.group_by(col(c.state), *keys)
    found: OpenNow = {}
    for row in await core_rows(db, live):
        key = tuple(row[1: 1 + len(keys)])
        n_open, n_risk, n_breached = (int(v or 0) for v in row[1 + len(keys):])
        have = found.get(key, (0, 0, 0))
        found[key] = (have[0] + n_open, have[1] + n_risk, have[2] + n_breached)
    return found


def _add_open(found: dict[Key, Stats], live: OpenNow) -> None:
    """Add the open counts to the groups in `found` (an open consult is in its group's
    count, so a group without consults in the range has none to add)."""
    for key, (n_open, n_risk, n_breached) in live.items():
        stats = found.get(key)
        if stats is not None:
            stats.open += n_open
            stats.at_risk += n_risk
            stats.breached += n_breached


async def grouped(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                  keys: Sequence[ColumnElement[Any]]) -> dict[Key, Stats]:
    """Stats per distinct value of `keys` (labelled columns); {(): totals} when none.

    Keys with no consults are absent; totals are always present.
    """
    found = await _counts(db, where, keys)
    for key, (median, p90) in (await percentiles.windowed(db, where, keys)).items():
        stats = found.setdefault(key, Stats())
        stats.median_seconds_to_answer, stats.p90_seconds_to_answer = median, p90
    if not keys:
        found.setdefault((), Stats())
    return found


GROUP_KEYS: tuple[ColumnElement[Any], ...] = (
    Consult.__table__.c.specialty, Consult.__table__.c.urgency)  # type: ignore[attr-defined]


async def _history(db: AsyncSession) -> tuple[datetime | None, datetime | None]:
    """The first and last submission (read once per summary: `_plan`, `_small_range`)."""
    submitted = col(Consult.submitted_at)
    first, last = (await db.execute(select(
        select(func.min(submitted)).scalar_subquery(),
        select(func.max(submitted)).scalar_subquery()))).one()
    return first, last


def _plan(filters: Filters, span: tuple[datetime | None, datetime | None], *,
          snapshot: bool) -> tuple[Filters, bool]:
    """The filters without the date bounds that exclude no consult (`from=2000-01-01`
    reads as no bound: no per-row date test), and whether to count with `_flag_counts`.
    Bounds are only dropped when every statement reads one `snapshot` (SQLite; on
    PostgreSQL each statement of a read sees the latest commits).

    That walk in (specialty, urgency, flags) order pays when it needs no sort and skips
    little: no urgency filter without a specialty, and a date range spanning more than
    half the submissions (all of them when unbounded; they are assumed spread evenly in
    time). Otherwise `_column_counts` reads ix_consults_turnaround_counts, which reaches
    the range (or the urgency) within each specialty, so it costs in proportion to the
    rows chosen: the last 30 days (104,000 of 1,000,000 consults) in ~30 ms, where
    `_flag_counts` would walk and filter everything (~90 ms). Both are exact; only the
    speed depends on this guess. Read in the caller's transaction, like the figures.
    """
    if filters.start is not None or filters.end is not None:
        first, last = span
        if first is None or last is None:
            return filters, False  # no consults
        cut = replace(
            filters,
            start=None if filters.start is None or filters.start <= first else filters.start,
            end=None if filters.end is None or filters.end > last else filters.end)
        if snapshot:
            filters = cut
        if cut.start is not None or cut.end is not None:
            start, end = cut.start or first, cut.end or last
            if (end - start) * 2 <= last - first:
                return filters, False
    return filters, not (filters.urgency and not filters.specialty)


# With the rollups a seek reads one band of answers either way: the range's own rows
# of it through the band index, sorted; or the band's rows over the whole history,
# walked in answer-time order and filtered by the range. The sort costs several times
# the walk per row: measured (bench/turnaround.py's data, `percentiles.in_bands`), the
# range wins once the history is more than about 6-8 times longer (30 days of 290:
# 3.6 vs 5.1 ms on SQLite; of a year at 10M on PostgreSQL 17 vs 21 ms; 60 days of
# 290: 7.8 vs 5.7 ms). Without the rollups the seeks walk the rank indexes.
RANGE_SEEK_FACTOR = 8


def _small_range(filters: Filters, span: tuple[datetime | None, datetime | None]) -> bool:
    if filters.start is None and filters.end is None:
        return False
    first, last = span
    if first is None or last is None:
        return False
    start, end = max(filters.start or first, first), min(filters.end or last, last)
    return (end - start) * RANGE_SEEK_FACTOR <= last - first


@contextlib.asynccontextmanager
async def _serial_plans(db: AsyncSession, sqlite: bool) -> AsyncIterator[None]:
    """On PostgreSQL, no parallel plans for the statements of one summary, then the
    setting back as it was for the rest of the caller's transaction. They are short
    index reads (rollup rows, a day's consults, band seeks), and the planner's parallel
    plans for them cost more in worker start-up than they save: at 10M, the band rows
    of the last 30 days 18 -> 6 ms, the whole summary 100 -> 82 ms (30 days) and
    203 -> 138 ms (full range)."""
    if sqlite:
        yield
        return
    await db.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    yield
    # Not on an error: the transaction is then aborted, and the setting ends with it.
    await db.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))


async def summarise(db: AsyncSession, filters: Filters) -> Summary:
    """Per specialty and urgency, and over everything the filters select."""
    sqlite = db.bind is not None and db.bind.dialect.name == "sqlite"
    async with _serial_plans(db, sqlite):
        return await _summarise(db, filters, sqlite)


async def _summarise(db: AsyncSession, filters: Filters, sqlite: bool) -> Summary:
    # Per-day rollups (`rollups`), when built: the counts of whole days from one row
    # per day and group, the rest of the range from the consults; exact either way.
    given = filters
    span = await _history(db) if filters.start is not None or filters.end is not None \
        else (None, None)
    filters, by_flags = _plan(filters, span, snapshot=sqlite)
    # A range that is a small part of the history: its percentiles are sought among its
    # own rows, band by band, not by walking every answer time.
    small = not by_flags and _small_range(given, span)
    where = where_of(filters)
    seek_where = where_of(filters, hide_range=sqlite)
    # The open consults (now) are counted beside the rest (at once on PostgreSQL).
    rolled, live = await side_by_side(
        db, lambda: rollup_reads.counts(db, given),
        lambda reader: _open_counts(reader, seek_where, GROUP_KEYS))
    if rolled is None:
        groups = await _history_counts(db, where, GROUP_KEYS, by_flags=by_flags)
    else:
        groups = {key: Stats(**dict(zip(rollups.COUNT_FIELDS, values, strict=True)))
                  for key, values in rolled.counts.items()}
    _add_open(groups, live)
    totals = Stats()
    for stats in groups.values():  # every count adds up; only the percentiles do not
        for name in ("count", "answered", "within", "open", "at_risk", "breached", "outcomes",
                     "avoided", "usefulness_n", "usefulness_sum"):
            setattr(totals, name, getattr(totals, name) + getattr(stats, name))
    # The percentiles of each group, then of the totals.
    present = [key for key, stats in groups.items() if stats.answered]
    targets = [groups[key] for key in present] + ([totals] if totals.answered else [])
    if rolled is None:
        wanted = [([*seek_where, *(k == v for k, v in zip(GROUP_KEYS, key, strict=True))],
                   groups[key].answered) for key in present]
        if totals.answered:
            wanted.append((seek_where, totals.answered))
        found = await percentiles.walked(db, wanted)
    else:
        # A short range's band seeks read ix_consults_answer_band (specialty, urgency,
        # band, submitted_at): each group's own band of the range. Otherwise the
        # answer-time indexes are walked from the band's edge.
        found = await percentiles.in_bands(
            db, rolled.bands, filters,
            [*((key, groups[key].answered) for key in present),
             *([(None, totals.answered)] if totals.answered else [])],
            small=small, hide_range=sqlite and not small)
    for stats, (median, p90) in zip(targets, found, strict=True):
        stats.median_seconds_to_answer, stats.p90_seconds_to_answer = median, p90
    return Summary(groups={(k[0], k[1]): groups[k] for k in sorted(groups)}, totals=totals)


async def first_submitted(db: AsyncSession, filters: Filters) -> datetime | None:
    from econsult.models.types import UTCDateTime

    value = (await db.execute(
        select(func.min(col(Consult.submitted_at))).where(*where_of(filters))
    )).scalar()
    # func.min() loses the column type on SQLite: normalise to aware UTC.
    return UTCDateTime().process_result_value(value, None) if value is not None else None  # type: ignore[arg-type]
