"""Exact nearest-rank percentiles of time to answer, in SQL.

The ⌈n·p⌉-th smallest of a group's answers is found one of three ways:
- `windowed`: one ROW_NUMBER() pass, for any grouping (weeks, specialists);
- `walked`: ORDER BY ... LIMIT 1 OFFSET on an index in answer-time order (the rank
  index per group, the answer-order index for the totals): 0.6 n index entries;
- `in_bands`: when the rollups give the range's answers per band of time to answer
  (`bands`), the rank falls in one band and the value is the offset-th smallest of
  that band only. For a short range (`small`) the band's consults of the range are read
  through the band index and sorted; for a long one, the answer-time index is walked
  from the band's lower edge, so a seek touches at most one band's entries.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db.core import core_rows
from econsult.models import Consult
from econsult.turnaround.bands import Bands, band_of
from econsult.turnaround.filters import Filters

Key = tuple[Any, ...]
MEDIAN = (1, 2)
P90 = (9, 10)
SEEKS_PER_STATEMENT = 64  # keeps the bound parameters well under every driver's limit
_NO_EDGE = 1e18  # the lowest band has no lower edge: below any time to answer


def rank(n: Any, p: tuple[int, int]) -> Any:
    """⌈n·num/den⌉ in integer arithmetic (both dialects divide integers exactly)."""
    num, den = p
    return (n * num + (den - 1)) // den


async def windowed(db: AsyncSession, where: Sequence[ColumnElement[bool]],
                   keys: Sequence[ColumnElement[Any]]) -> dict[Key, tuple[float, float]]:
    """(median, p90) of seconds_to_answer per key, nearest-rank, in one windowed query."""
    s = col(Consult.seconds_to_answer)
    partition = list(keys) or None
    ranked = select(
        *keys,
        s.label("s"),
        func.row_number().over(partition_by=partition, order_by=s).label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).where(*where, s.is_not(None)).subquery()
    rn, n = ranked.c.rn, ranked.c.n
    at_median, at_p90 = rn == rank(n, MEDIAN), rn == rank(n, P90)
    key_cols = [ranked.c[str(k.key)] for k in keys]
    stmt = select(
        *key_cols,
        func.max(case((at_median, ranked.c.s))),
        func.max(case((at_p90, ranked.c.s))),
    ).where(or_(at_median, at_p90))
    if key_cols:
        stmt = stmt.group_by(*key_cols)
    return {tuple(row[: len(keys)]): (float(row[-2]), float(row[-1]))
            for row in await core_rows(db, stmt) if row[-2] is not None}


async def _pairs(db: AsyncSession, columns: list[Any]) -> list[tuple[float, float]]:
    found: list[tuple[float, float]] = []
    for at in range(0, len(columns), 2 * SEEKS_PER_STATEMENT):
        row = (await core_rows(db, select(*columns[at: at + 2 * SEEKS_PER_STATEMENT])))[0]
        found += [(float(row[i] or 0), float(row[i + 1] or 0)) for i in range(0, len(row), 2)]
    return found


async def walked(db: AsyncSession, wanted: Sequence[tuple[Sequence[ColumnElement[bool]], int]]
                 ) -> list[tuple[float, float]]:
    """(median, p90) of the n answered consults each `where` selects, walking the index
    in answer-time order (the p90 from the top): 0.6 n entries. Every seek is a scalar
    subquery of one SELECT: one round trip for all groups and the totals."""
    s = col(Consult.seconds_to_answer)
    columns = []
    for where, n in wanted:
        base = select(s).where(*where, s.is_not(None)).limit(1)
        columns += [base.order_by(s).offset(rank(n, MEDIAN) - 1).scalar_subquery(),
                    base.order_by(s.desc()).offset(n - rank(n, P90)).scalar_subquery()]
    return await _pairs(db, columns)


def band_span(b: int) -> tuple[float, float]:
    """[low, high) seconds of band `b`, by the band's definition (`bands`)."""
    if b < 36:
        return b * 600.0, (b + 1) * 600.0
    if b < 102:
        return 21_600.0 + (b - 36) * 3_600.0, 21_600.0 + (b - 35) * 3_600.0
    return 259_200.0 + (b - 102) * 43_200.0, 259_200.0 + (b - 101) * 43_200.0


@dataclass(frozen=True)
class SeekShape:
    """What a statement of band seeks looks like apart from its values: one is built
    per shape and kept (building and cache-keying ~50 scalar subqueries cost more than
    running them), its values bound per call. `groups`: per seek, whether it is a
    group's (True: its specialty and urgency bound) or the totals' (False: the groups
    present, as IN lists)."""

    dialect: str
    small: bool  # through the band index, the range's rows of the band sorted
    hide_range: bool  # the range through coalesce() (`filters.where_of`)
    start: bool
    end: bool
    specialty: bool
    urgency: bool
    groups: tuple[bool, ...]
    specialties: int = 0  # how many specialties and urgencies the totals' seeks list
    urgencies: int = 0


@functools.lru_cache(maxsize=256)
def seek_statement(shape: SeekShape) -> Select[Any]:
    """One row: the `offset`-th smallest time to answer in band `b` of the consults each
    seek selects. `small`: through ix_consults_answer_band, the band's rows of the
    range only, sorted (`s + 0`: not walked in another index's order). Otherwise
    walked in answer-time order from just below the band's edge: the edges bound the
    walk, the band test (`+ 0`: not through the band index) decides membership, so a
    time that floating point puts on the other side of an edge is still counted where
    the rollups counted it."""
    c = Consult
    s = col(c.seconds_to_answer)
    band = band_of(shape.dialect)
    submitted: Any = col(c.submitted_at)
    if shape.hide_range:
        submitted = func.coalesce(submitted, submitted)
    common: list[ColumnElement[bool]] = [s.is_not(None)]
    if shape.start:
        common.append(submitted >= bindparam("start"))
    if shape.end:
        common.append(submitted < bindparam("end"))
    if shape.specialty:
        common.append(col(c.specialty) == bindparam("specialty"))
    if shape.urgency:
        common.append(col(c.urgency) == bindparam("urgency"))
    columns = []
    for i, of_group in enumerate(shape.groups):
        # A short range's totals read the band index through IN lists of the groups
        # present (every answered consult of the range is in one); a long one walks
        # the answer-order index over everything.
        # (Each listed value its own parameter, the lengths in the shape: an expanding
        # IN is rendered into the statement's text again at every execution.)
        who = [col(c.specialty) == bindparam(f"sp{i}"), col(c.urgency) == bindparam(f"ur{i}")] \
            if of_group else [
                col(c.specialty).in_([bindparam(f"tsp{j}") for j in range(shape.specialties)]),
                col(c.urgency).in_([bindparam(f"tur{j}") for j in range(shape.urgencies)])] \
            if shape.small else []
        seek = select(s).where(*common, *who)
        if shape.small:
            seek = seek.where(band == bindparam(f"b{i}")).order_by(s + 0)
        else:
            seek = seek.where(s < bindparam(f"hi{i}"), s >= bindparam(f"lo{i}"),
                              band + 0 == bindparam(f"b{i}")).order_by(s)
        columns.append(seek.limit(1).offset(bindparam(f"o{i}", type_=Integer))
                       .scalar_subquery())
    return select(*columns)


def _located(counted: dict[int, int], at: int) -> tuple[int, int]:
    """(band, offset within it) of the `at`-th smallest answer, from the band counts."""
    before = 0
    for b in sorted(counted):
        if before + counted[b] >= at:
            return b, at - before - 1
        before += counted[b]
    raise LookupError("rank beyond the answered count")


async def in_bands(db: AsyncSession, bands: Bands, filters: Filters,
                   wanted: Sequence[tuple[Key | None, int]], *, small: bool,
                   hide_range: bool) -> list[tuple[float, float]]:
    """(median, p90) for each (key, answered count) of the range `filters` selects,
    whose answers the rollups count per group and band (`bands`), exactly. Key None:
    the totals (all bands, over the groups present)."""
    dialect = db.bind.dialect.name if db.bind is not None else "sqlite"
    everything: dict[int, int] = {}
    for counted in bands.values():
        for b, n in counted.items():
            everything[b] = everything.get(b, 0) + n
    shared: dict[str, Any] = {}
    for name, value in (("start", filters.start), ("end", filters.end),
                        ("specialty", filters.specialty), ("urgency", filters.urgency)):
        if value:
            shared[name] = value
    present = [key for key, _ in wanted if key is not None]
    specialties, urgencies = sorted({k[0] for k in present}), sorted({k[1] for k in present})
    shared |= {f"tsp{j}": v for j, v in enumerate(specialties)}
    shared |= {f"tur{j}": v for j, v in enumerate(urgencies)}
    seeks: list[tuple[Key | None, int, int]] = []  # (key, band, offset)
    for key, n in wanted:
        counted = everything if key is None else bands.get((key[0], key[1]), {})
        if sum(counted.values()) != n:  # one snapshot: cannot happen
            raise LookupError("bands do not add up to the answered count")
        for at in (rank(n, MEDIAN), rank(n, P90)):
            seeks.append((key, *_located(counted, at)))
    found: list[tuple[float, float]] = []
    for first in range(0, len(seeks), 2 * SEEKS_PER_STATEMENT):
        chunk = seeks[first: first + 2 * SEEKS_PER_STATEMENT]
        shape = SeekShape(dialect, small, hide_range, "start" in shared, "end" in shared,
                          "specialty" in shared, "urgency" in shared,
                          tuple(key is not None for key, _, _ in chunk),
                          len(specialties), len(urgencies))
        params = dict(shared)
        for i, (key, b, offset) in enumerate(chunk):
            if key is not None:
                params[f"sp{i}"], params[f"ur{i}"] = key[0], key[1]
            params[f"b{i}"], params[f"o{i}"] = b, offset
            if not small:
                low, high = band_span(b)
                params[f"lo{i}"] = low - 1 if b > 0 else -_NO_EDGE
                params[f"hi{i}"] = high + 1
        row = (await core_rows(db, seek_statement(shape), params))[0]
        found += [(float(row[i] or 0), float(row[i + 1] or 0)) for i in range(0, len(row), 2)]
    return found

