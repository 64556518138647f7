"""Reference turnaround statistics, the definitions the SQL aggregates are tested against.

Percentiles use the nearest-rank method: the p-th percentile of n values is the
⌈p·n⌉-th smallest (1-based), so it is always one of the observed values and needs
no interpolation, which SQL can reproduce with ORDER BY ... OFFSET. The product
p·n is computed exactly from p's decimal spelling: in binary floating point
0.07 * 100 is 7.000000000000001, whose ceiling would wrongly be 8.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

T = TypeVar("T", int, float)


def nearest_rank_index(n: int, p: float) -> int:
    """0-based index of the nearest-rank p-th percentile among n sorted values (n >= 1)."""
    if not 0 < p <= 1:
        raise ValueError(f"percentile must be in (0, 1] (got {p})")
    if n < 1:
        raise ValueError("no percentile of an empty list")
    # Fraction(repr(p)) is the decimal the caller wrote (0.9 -> 9/10), not its binary value.
    return math.ceil(Fraction(repr(p)) * n) - 1


def nearest_rank(sorted_values: Sequence[T], p: float) -> T | None:
    """The ⌈p·n⌉-th smallest of ascending `sorted_values`; None when there are none.

    Median: p=0.5 (⌈n/2⌉-th smallest); p90: p=0.9.
    """
    if any(b < a for a, b in zip(sorted_values, sorted_values[1:], strict=False)):
        raise ValueError("values must be sorted ascending")
    if not sorted_values:
        if not 0 < p <= 1:
            raise ValueError(f"percentile must be in (0, 1] (got {p})")
        return None
    return sorted_values[nearest_rank_index(len(sorted_values), p)]


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    median: float | None
    p90: float | None
    within_target_pct: float | None  # 0-100; None when count == 0

    def __iter__(self) -> Iterator[float | None]:
        # Unpacks as (count, median, p90, within_target_pct).
        return iter((self.count, self.median, self.p90, self.within_target_pct))


def summarise(seconds_to_answer: Sequence[float], targets: Sequence[float]) -> Summary:
    """Count, median, p90 and % answered within target of answered consults.

    `targets[i]` is consult i's target window in the same units as its time to
    answer; answering exactly at the target counts as within it.
    """
    if len(seconds_to_answer) != len(targets):
        raise ValueError(
            f"{len(seconds_to_answer)} answer times but {len(targets)} targets; "
            "each consult needs both"
        )
    if any(math.isnan(v) for v in (*seconds_to_answer, *targets)):
        raise ValueError("answer times and targets must be numbers, not NaN")
    n = len(seconds_to_answer)
    if n == 0:
        return Summary(0, None, None, None)
    ordered = sorted(seconds_to_answer)
    within = sum(1 for v, t in zip(seconds_to_answer, targets, strict=True) if v <= t)
    return Summary(
        count=n,
        median=nearest_rank(ordered, 0.5),
        p90=nearest_rank(ordered, 0.9),
        within_target_pct=100.0 * within / n,
    )
