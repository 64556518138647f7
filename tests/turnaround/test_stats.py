"""Nearest-rank percentiles and the reference summary the SQL aggregates must match."""

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from econsult.turnaround.stats import Summary, nearest_rank, nearest_rank_index, summarise


def brute_force(values: list[int], p: Fraction) -> int | None:
    """The smallest observed value with at least p·n values at or below it."""
    if not values:
        return None
    return min(v for v in values if sum(1 for w in values if w <= v) >= p * len(values))


def test_hand_cases() -> None:
    ten = list(range(1, 11))
    assert nearest_rank(ten, 0.5) == 5
    assert nearest_rank(ten, 0.9) == 9
    assert nearest_rank(ten, 1.0) == 10
    assert nearest_rank(ten, 0.01) == 1
    assert nearest_rank(ten, 0.7) == 7
    # 0.07 * 100 is 7.000000000000001 in binary floating point; the 7th value is right.
    assert nearest_rank(list(range(1, 101)), 0.07) == 7
    assert nearest_rank([4, 8, 15], 0.5) == 8  # ⌈1.5⌉ = 2nd
    assert nearest_rank([42], 0.9) == 42
    assert nearest_rank([], 0.5) is None


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([1, 2], 0)
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([], 1.5)
    with pytest.raises(ValueError, match="sorted"):
        nearest_rank([2, 1], 0.5)


@given(st.lists(st.integers(-1000, 1000), max_size=60), st.integers(1, 100))
def test_nearest_rank_matches_brute_force(values: list[int], percent: int) -> None:
    assert nearest_rank(sorted(values), percent / 100) == brute_force(
        values, Fraction(percent, 100)
    )


@given(st.integers(1, 100_000), st.integers(1, 1000))
def test_rank_is_exact_for_decimal_percentiles(n: int, per_mille: int) -> None:
    # Integer arithmetic for ⌈p·n⌉ with p = per_mille / 1000: no floating point.
    assert nearest_rank_index(n, per_mille / 1000) == -(-per_mille * n // 1000) - 1


def test_summarise_hand_case() -> None:
    answers = [90000.0, 3600.0, 86400.0, 7200.0, 10800.0]
    targets = [86400.0] * 5
    s = summarise(answers, targets)
    # Sorted: 3600, 7200, 10800, 86400, 90000; median ⌈2.5⌉ = 3rd, p90 ⌈4.5⌉ = 5th;
    # 86400 exactly at target counts as within: 4 of 5.
    assert s == Summary(count=5, median=10800.0, p90=90000.0, within_target_pct=80.0)
    count, median, p90, pct = s
    assert (count, median, p90, pct) == (5, 10800.0, 90000.0, 80.0)


def test_summarise_uses_each_consults_own_target() -> None:
    s = summarise([7200.0, 7200.0, 600000.0], [3600.0, 7200.0, 604800.0])
    assert s.within_target_pct is not None
    assert math.isclose(s.within_target_pct, 200 / 3)


def test_summarise_empty_and_mismatched() -> None:
    assert tuple(summarise([], [])) == (0, None, None, None)
    with pytest.raises(ValueError, match="targets"):
        summarise([1.0], [])
    with pytest.raises(ValueError, match="NaN"):
        summarise([math.nan], [1.0])
