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

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import Consult
from econsult.turnaround.rollup_reads import Bands
from econsult.turnaround.rollups import band_expr

Key = tuple[Any, ...]
MEDIAN = (1, 2)
P90 = (9, 10)
SEEKS_PER_STATEMENT = 64  # keeps the bound parameters well under every driver's limit


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
            for row in (await db.execute(stmt)).all() if row[-2] is not None}


async def _pairs(db: AsyncSession, columns: list[Any]) -> list[tuple[float, float]]:
    found: list[tuple[float, float]] = []
    for at in range(0, len(columns), 2 * SEEKS_PER_STATEMENT):
        row = (await db.execute(select(*columns[at: at + 2 * SEEKS_PER_STATEMENT]))).one()
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


def in_band(band: Any, clauses: Sequence[ColumnElement[bool]] | Select[Any], b: int,
            offset: int, *, small: bool = True) -> Select[Any]:
    """The `offset`-th smallest time to answer in band `b` of the consults `clauses`
    select (or of `answered(clauses)`, built once for a group's seeks). `small`: through
    ix_consults_answer_band, the band's rows of the range only, sorted (`s + 0`: not
    walked in another index's order). Otherwise walked in answer-time order from just
    below the band's edge: the edges bound the walk, the band test (`+ 0`: not through
    the band index) decides membership, so a time that floating point puts on the other
    side of an edge is still counted where the rollups counted it; the lowest band has
    no lower edge."""
    s = col(Consult.seconds_to_answer)
    base = clauses if isinstance(clauses, Select) else answered(clauses)
    if small:
        return base.where(band == b).order_by(s + 0).limit(1).offset(offset)
    low, high = band_span(b)
    edges = [s < high + 1, *([s >= low - 1] if b > 0 else [])]
    return base.where(*edges, band + 0 == b).order_by(s).limit(1).offset(offset)


def answered(clauses: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """The times to answer of the answered consults `clauses` select."""
    s = col(Consult.seconds_to_answer)
    return select(s).where(*clauses, s.is_not(None))


async def in_bands(
    db: AsyncSession, bands: Bands,
    wanted: Sequence[tuple[Sequence[ColumnElement[bool]], int, Key | None]], *, small: bool,
) -> list[tuple[float, float]]:
    """(median, p90) for each (clauses, answered count, key) of a range whose answers
    the rollups count per group and band, exactly. Key None: the totals (all bands)."""
    band = band_expr(db)
    everything: dict[int, int] = {}
    for counted in bands.values():
        for b, n in counted.items():
            everything[b] = everything.get(b, 0) + n
    columns = []
    for clauses, n, key in wanted:
        # The group's clauses coerced once, for both of its seeks (building statements
        # costs more here than some of the seeks themselves).
        base = answered(clauses)
        counted = everything if key is None else bands.get((key[0], key[1]), {})
        if sum(counted.values()) != n:  # one snapshot: cannot happen
            raise LookupError("bands do not add up to the answered count")
        for at in (rank(n, MEDIAN), rank(n, P90)):
            before = 0
            for b in sorted(counted):
                if before + counted[b] >= at:
                    break
                before += counted[b]
            columns.append(in_band(band, base, b, at - before - 1, small=small)
                           .scalar_subquery())
    return await _pairs(db, columns)
