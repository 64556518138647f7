from datetime import UTC, timedelta

import pytest

from econsult.routing.rota import (
    Absence,
    Shift,
    Source,
    Tier,
    WeeklyPattern,
    expand,
    on_call_at,
)
from tests.factories import VANCOUVER, hm, local, utc

MONDAY, TUESDAY, FRIDAY = 0, 1, 4
WEEK_START, WEEK_END = local(2026, 6, 1), local(2026, 6, 8)  # Monday to Monday


def test_weekly_pattern_repeats_on_its_weekday() -> None:
    pattern = WeeklyPattern(7, TUESDAY, hm("09:00"), hm("17:00"), Tier.PRIMARY)
    found = expand([pattern], [], [], local(2026, 6, 1), local(2026, 6, 15), VANCOUVER)
    assert [(i.starts_at_utc, i.ends_at_utc) for i in found] == [
        (utc(2026, 6, 2, 16), utc(2026, 6, 3, 0)),
        (utc(2026, 6, 9, 16), utc(2026, 6, 10, 0)),
    ]
    assert all(i.source is Source.WEEKLY and i.specialist_id == 7 for i in found)


def test_overnight_pattern_crosses_midnight() -> None:
    pattern = WeeklyPattern(1, FRIDAY, hm("22:00"), hm("06:00"), Tier.BACKUP)
    (interval,) = expand([pattern], [], [], WEEK_START, WEEK_END, VANCOUVER)
    assert interval.starts_at_utc == local(2026, 6, 5, 22).astimezone(UTC)
    assert interval.ends_at_utc == local(2026, 6, 6, 6).astimezone(UTC)


def test_equal_start_and_end_is_a_full_day() -> None:
    pattern = WeeklyPattern(1, TUESDAY, hm("08:00"), hm("08:00"), Tier.PRIMARY)
    (interval,) = expand([pattern], [], [], WEEK_START, WEEK_END, VANCOUVER)
    assert interval.duration == timedelta(hours=24)


def test_last_nights_overnight_pattern_reaches_into_the_window() -> None:
    # Sunday 22:00 - Monday 06:00 began before the window (Monday 00:00) opened.
    pattern = WeeklyPattern(1, 6, hm("22:00"), hm("06:00"), Tier.PRIMARY)
    found = expand([pattern], [], [], WEEK_START, local(2026, 6, 2), VANCOUVER)
    assert [(i.starts_at_utc, i.ends_at_utc) for i in found] == [
        (WEEK_START.astimezone(UTC), local(2026, 6, 1, 6).astimezone(UTC))
    ]


def test_results_are_clipped_to_the_window() -> None:
    shift = Shift(3, local(2026, 6, 1, 8), local(2026, 6, 1, 20), Tier.PRIMARY, id=11)
    (interval,) = expand([], [shift], [], local(2026, 6, 1, 12), local(2026, 6, 1, 14), VANCOUVER)
    assert interval.starts_at_utc == local(2026, 6, 1, 12).astimezone(UTC)
    assert interval.ends_at_utc == local(2026, 6, 1, 14).astimezone(UTC)
    assert interval.shift_ids == (11,)
    assert interval.starts_at_utc.tzinfo is UTC


def test_absence_splits_a_shift() -> None:
    shift = Shift(3, local(2026, 6, 2, 8), local(2026, 6, 2, 20), Tier.PRIMARY, id=5)
    absence = Absence(3, local(2026, 6, 2, 12), local(2026, 6, 2, 13))
    found = expand([], [shift], [absence], WEEK_START, WEEK_END, VANCOUVER)
    assert [(i.starts_at_utc, i.ends_at_utc) for i in found] == [
        (local(2026, 6, 2, 8).astimezone(UTC), local(2026, 6, 2, 12).astimezone(UTC)),
        (local(2026, 6, 2, 13).astimezone(UTC), local(2026, 6, 2, 20).astimezone(UTC)),
    ]
    assert all(i.shift_ids == (5,) for i in found)


def test_absence_removes_weekly_time_and_only_for_that_specialist() -> None:
    patterns = [
        WeeklyPattern(1, TUESDAY, hm("09:00"), hm("17:00"), Tier.PRIMARY),
        WeeklyPattern(2, TUESDAY, hm("09:00"), hm("17:00"), Tier.BACKUP),
    ]
    absence = Absence(1, local(2026, 6, 1), local(2026, 6, 3))
    found = expand(patterns, [], [absence], WEEK_START, WEEK_END, VANCOUVER)
    assert [i.specialist_id for i in found] == [2]


def test_shift_overrides_overlapping_weekly_time_of_the_same_tier() -> None:
    pattern = WeeklyPattern(1, TUESDAY, hm("09:00"), hm("17:00"), Tier.PRIMARY)
    shift = Shift(1, local(2026, 6, 2, 12), local(2026, 6, 2, 20), Tier.PRIMARY, id="s1")
    found = expand([pattern], [shift], [], WEEK_START, WEEK_END, VANCOUVER)
    assert [(i.source, i.starts_at_utc, i.ends_at_utc) for i in found] == [
        (Source.WEEKLY, utc(2026, 6, 2, 16), utc(2026, 6, 2, 19)),  # 09:00-12:00 PDT
        (Source.SHIFT, utc(2026, 6, 2, 19), utc(2026, 6, 3, 3)),  # 12:00-20:00 PDT
    ]


def test_overlapping_shifts_merge_and_keep_their_ids() -> None:
    shifts = [
        Shift(1, local(2026, 6, 2, 8), local(2026, 6, 2, 14), Tier.PRIMARY, id=1),
        Shift(1, local(2026, 6, 2, 12), local(2026, 6, 2, 18), Tier.PRIMARY, id=2),
        Shift(1, local(2026, 6, 2, 18), local(2026, 6, 2, 22), Tier.PRIMARY, id=3),
    ]
    found = expand([], shifts, [], WEEK_START, WEEK_END, VANCOUVER)
    assert [(i.shift_ids, i.duration) for i in found] == [
        ((1, 2), timedelta(hours=10)),
        ((3,), timedelta(hours=4)),  # touching, not overlapping: kept apart
    ]


def test_primary_and_backup_are_kept_separate() -> None:
    shifts = [
        Shift(1, local(2026, 6, 2, 8), local(2026, 6, 2, 14), Tier.BACKUP),
        Shift(1, local(2026, 6, 2, 8), local(2026, 6, 2, 14), Tier.PRIMARY),
    ]
    found = expand([], shifts, [], WEEK_START, WEEK_END, VANCOUVER)
    assert [i.tier for i in found] == [Tier.PRIMARY, Tier.BACKUP]


def test_output_is_sorted() -> None:
    patterns = [
        WeeklyPattern(sid, day, hm("09:00"), hm("17:00"), Tier.PRIMARY)
        for sid in (3, 1, 2)
        for day in (4, 0, 2)
    ]
    found = expand(patterns, [], [], WEEK_START, WEEK_END, VANCOUVER)
    keys = [(i.starts_at_utc, i.specialist_id) for i in found]
    assert keys == sorted(keys) and len(found) == 9


def test_on_call_at_is_half_open() -> None:
    shift = Shift(1, local(2026, 6, 2, 8), local(2026, 6, 2, 16), Tier.PRIMARY)
    found = expand([], [shift], [], WEEK_START, WEEK_END, VANCOUVER)
    assert on_call_at(found, local(2026, 6, 2, 8)) == found
    assert on_call_at(found, local(2026, 6, 2, 15, 59)) == found
    assert on_call_at(found, local(2026, 6, 2, 16)) == []
    assert on_call_at(found, local(2026, 6, 2, 7, 59)) == []


def test_empty_window_and_inverted_window() -> None:
    pattern = WeeklyPattern(1, TUESDAY, hm("00:00"), hm("00:00"), Tier.PRIMARY)
    assert expand([pattern], [], [], local(2026, 6, 2, 9), local(2026, 6, 2, 9), VANCOUVER) == []
    with pytest.raises(ValueError, match="ends before it starts"):
        expand([], [], [], WEEK_END, WEEK_START, VANCOUVER)


@pytest.mark.parametrize("weekday", [-1, 7, True])
def test_pattern_rejects_bad_weekday(weekday: int) -> None:
    with pytest.raises(ValueError, match="weekday"):
        WeeklyPattern(1, weekday, hm("09:00"), hm("17:00"), Tier.PRIMARY)


def test_shift_and_absence_validation() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="end after it starts"):
        Shift(1, local(2026, 6, 2, 9), local(2026, 6, 2, 9), Tier.PRIMARY)
    with pytest.raises(ValueError, match="time zone"):
        Absence(1, datetime(2026, 6, 2, 9), datetime(2026, 6, 2, 10))
    with pytest.raises(ValueError):
        Shift(1, local(2026, 6, 2, 9), local(2026, 6, 2, 10), "chief")  # type: ignore[arg-type]  # on purpose
    # Rows hold the tier as text; the dataclass turns it into the enum.
    backup = Shift(1, local(2026, 6, 2, 9), local(2026, 6, 2, 10), "backup")  # type: ignore[arg-type]
    assert backup.tier is Tier.BACKUP
