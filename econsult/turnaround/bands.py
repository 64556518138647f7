"""Bands of time to answer, and the index that reaches one band of a group directly.

A band is 10 minutes wide for the first 6 hours, then an hour to 3 days, then half a
day: few bands per day and group, each a small share of a range's answers. The per-day
rollups count answers per band (`rollups`), so a percentile's rank falls in one known
band and its exact value is the offset-th smallest of that band's consults in the range
(`aggregates._banded_seek`).

The band is written once per dialect as SQL text with its constants inline, because
the expression index `ix_consults_answer_band` (migration 0016: specialty, urgency,
band, submitted_at, seconds_to_answer, over answered consults only) is used only by a
query whose expression is the same text: a bound parameter in place of a constant
does not match it. Truncation is CAST on SQLite and floor() on PostgreSQL (whose CAST
rounds); either way every reader and the index compute the same integer.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Integer, literal_column

INDEX = "ix_consults_answer_band"
# Answered consults per band, per (specialty, urgency).
Bands = dict[tuple[str, str], dict[int, int]]


def band_sql(dialect: str, column: str = "seconds_to_answer") -> str:
    """The band of `column`, as SQL text for `dialect` ("sqlite" or "postgresql")."""
    def whole(x: str) -> str:
        return f"CAST({x} AS INTEGER)" if dialect == "sqlite" else f"CAST(floor({x}) AS INTEGER)"

    s = column
    return (f"CASE WHEN {s} < 21600 THEN {whole(f'{s} / 600')} "
            f"WHEN {s} < 259200 THEN 36 + {whole(f'({s} - 21600) / 3600')} "
            f"ELSE 102 + {whole(f'({s} - 259200) / 43200')} END")


@functools.cache
def band_of(dialect: str) -> Any:
    """The band of consults.seconds_to_answer as a column expression for queries (built
    once per dialect: an expression is immutable, and every seek compares it)."""
    return literal_column(band_sql(dialect, "consults.seconds_to_answer"), Integer)
