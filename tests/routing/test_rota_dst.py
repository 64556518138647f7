"""Weekly patterns across the 2026 clock changes: America/Vancouver springs forward on
8 March and then stays on UTC-7 (IANA 2026); America/Toronto still falls back on
1 November."""

from datetime import datetime, timedelta

from econsult.clock import zone
from econsult.routing.rota import OnCallInterval, Tier, WeeklyPattern, expand
from tests.factories import VANCOUVER, hm, local, utc

TORONTO = zone("America/Toronto")


def toronto(y: int, mo: int, d: int, h: int = 0) -> datetime:
    return datetime(y, mo, d, h, tzinfo=TORONTO)

SUNDAY, SATURDAY = 6, 5


def _expand(pattern: WeeklyPattern, start_day: tuple[int, int, int]) -> list[OnCallInterval]:
    start = local(*start_day)
    return expand([pattern], [], [], start, start + timedelta(days=3), VANCOUVER)


def _expand_toronto(pattern: WeeklyPattern,
                    start_day: tuple[int, int, int]) -> list[OnCallInterval]:
    start = toronto(*start_day)
    return expand([pattern], [], [], start, start + timedelta(days=3), TORONTO)


def test_day_pattern_on_spring_forward_sunday() -> None:
    # The change happens at 02:00, so 08:00-17:00 is PDT throughout: 9 real hours.
    (interval,) = _expand(WeeklyPattern(1, SUNDAY, hm("08:00"), hm("17:00"), Tier.PRIMARY),
                          (2026, 3, 7))
    assert interval.starts_at_utc == utc(2026, 3, 8, 15)
    assert interval.ends_at_utc == utc(2026, 3, 9, 0)
    assert interval.duration == timedelta(hours=9)


def test_pattern_spanning_the_spring_forward_gap_loses_an_hour() -> None:
    (interval,) = _expand(WeeklyPattern(1, SUNDAY, hm("00:00"), hm("12:00"), Tier.PRIMARY),
                          (2026, 3, 7))
    assert interval.duration == timedelta(hours=11)


def test_overnight_into_spring_forward_is_seven_hours() -> None:
    (interval,) = _expand(WeeklyPattern(1, SATURDAY, hm("22:00"), hm("06:00"), Tier.PRIMARY),
                          (2026, 3, 7))
    assert interval.starts_at_utc == utc(2026, 3, 8, 6)  # 22:00 PST
    assert interval.ends_at_utc == utc(2026, 3, 8, 13)  # 06:00 PDT
    assert interval.duration == timedelta(hours=7)


def test_vancouver_does_not_fall_back_in_2026() -> None:
    (interval,) = _expand(WeeklyPattern(1, SATURDAY, hm("22:00"), hm("06:00"), Tier.BACKUP),
                          (2026, 10, 31))
    assert interval.starts_at_utc == utc(2026, 11, 1, 5)  # 22:00 UTC-7
    assert interval.ends_at_utc == utc(2026, 11, 1, 13)  # 06:00 UTC-7: no change overnight
    assert interval.duration == timedelta(hours=8)


def test_overnight_across_fall_back_is_nine_hours() -> None:
    (interval,) = _expand_toronto(WeeklyPattern(1, SATURDAY, hm("22:00"), hm("06:00"),
                                                Tier.BACKUP), (2026, 10, 31))
    assert interval.starts_at_utc == utc(2026, 11, 1, 2)  # 22:00 EDT
    assert interval.ends_at_utc == utc(2026, 11, 1, 11)  # 06:00 EST
    assert interval.duration == timedelta(hours=9)


def test_nonexistent_start_resolves_forward() -> None:
    (interval,) = _expand(WeeklyPattern(1, SUNDAY, hm("02:30"), hm("08:00"), Tier.PRIMARY),
                          (2026, 3, 7))
    assert interval.starts_at_utc == utc(2026, 3, 8, 10)  # 03:00 PDT, the end of the gap
    assert interval.ends_at_utc == utc(2026, 3, 8, 15)


def test_pattern_entirely_inside_the_gap_is_empty() -> None:
    assert _expand(WeeklyPattern(1, SUNDAY, hm("02:10"), hm("02:50"), Tier.PRIMARY),
                   (2026, 3, 7)) == []


def test_pattern_reaching_just_past_the_gap_keeps_the_real_minutes() -> None:
    (interval,) = _expand(WeeklyPattern(1, SUNDAY, hm("02:30"), hm("03:10"), Tier.PRIMARY),
                          (2026, 3, 7))
    assert interval.duration == timedelta(minutes=10)


def test_ambiguous_start_uses_first_occurrence() -> None:
    (interval,) = _expand_toronto(WeeklyPattern(1, SUNDAY, hm("01:30"), hm("03:00"),
                                                Tier.PRIMARY), (2026, 10, 31))
    assert interval.starts_at_utc == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert interval.ends_at_utc == utc(2026, 11, 1, 8)  # 03:00 EST
    assert interval.duration == timedelta(hours=2, minutes=30)


def test_same_wall_hours_map_to_different_utc_either_side_of_the_change() -> None:
    pattern = WeeklyPattern(1, 0, hm("09:00"), hm("17:00"), Tier.PRIMARY)
    found = expand([pattern], [], [], toronto(2026, 10, 25), toronto(2026, 11, 8), TORONTO)
    assert [i.starts_at_utc for i in found] == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14)]
    assert all(i.duration == timedelta(hours=8) for i in found)
    # Vancouver's Mondays either side of 1 November are the same UTC hour now.
    found = expand([pattern], [], [], local(2026, 10, 25), local(2026, 11, 8), VANCOUVER)
    assert [i.starts_at_utc for i in found] == [utc(2026, 10, 26, 16), utc(2026, 11, 2, 16)]
