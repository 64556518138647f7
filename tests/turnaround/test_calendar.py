"""Hand-computed business-time cases: weekends, BC statutory holidays, DST, edges."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from econsult.clock import zone
from econsult.turnaround.calendar import BusinessCalendar
from tests.factories import VANCOUVER, local

TOR = zone("America/Toronto")
H = 3600.0

BC = BusinessCalendar(VANCOUVER)
ON = BusinessCalendar(TOR, region="CA-ON")
# Every day, 00:00-12:00, no holidays: the open period itself spans the DST change.
MORNINGS = BusinessCalendar(VANCOUVER, time(0), time(12), workdays=range(7), region=None)


def tor(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TOR)


def test_weekend_is_closed() -> None:
    # Fri 15:00-17:00 (2 h) + Mon 08:00-10:00 (2 h).
    assert BC.business_seconds_between(local(2026, 3, 13, 15), local(2026, 3, 16, 10)) == 4 * H


def test_within_one_day_and_outside_hours() -> None:
    assert BC.business_seconds_between(local(2026, 3, 10, 9), local(2026, 3, 10, 11, 30)) == 2.5 * H
    assert BC.business_seconds_between(local(2026, 3, 10, 6), local(2026, 3, 10, 20)) == 9 * H
    assert BC.business_seconds_between(local(2026, 3, 10, 18), local(2026, 3, 11, 7)) == 0.0
    assert BC.business_seconds_between(local(2026, 3, 14, 9), local(2026, 3, 15, 16)) == 0.0


def test_bc_day_is_a_holiday_in_bc_but_not_in_ontario() -> None:
    assert not BC.is_business_day(date(2026, 8, 3))
    assert ON.is_business_day(date(2026, 8, 3))
    # Fri 16:00-17:00 (1 h), Mon is BC Day, Tue 08:00-10:00 (2 h).
    assert BC.business_seconds_between(local(2026, 7, 31, 16), local(2026, 8, 4, 10)) == 3 * H
    # Ontario opens 08:00-17:00 on the Monday: 1 + 9 + 2 h.
    assert ON.business_seconds_between(tor(2026, 7, 31, 16), tor(2026, 8, 4, 10)) == 12 * H


def test_truth_and_reconciliation_day_is_a_bc_statutory_holiday() -> None:
    # holidays marks 2026-09-30 for BC (a provincial statutory holiday since 2023).
    assert date(2026, 9, 30) in BC.holidays_in(2026)
    assert not BC.is_business_day(date(2026, 9, 30))
    assert ON.is_business_day(date(2026, 9, 30))
    # Tue 16:00-17:00 (1 h), Wed closed, Thu 08:00-09:00 (1 h).
    assert BC.business_seconds_between(local(2026, 9, 29, 16), local(2026, 10, 1, 9)) == 2 * H


def test_whole_year_2026_in_bc() -> None:
    # 2026 starts on a Thursday: 52 weeks + 1 Thursday = 261 weekdays; all 11 BC
    # statutory holidays of 2026 fall on weekdays: 250 open days of 9 hours.
    assert len(BC.holidays_in(2026)) == 11
    assert BC.business_seconds_between(local(2026, 1, 1), local(2027, 1, 1)) == 250 * 9 * H


def test_friday_16h_with_two_business_days() -> None:
    two_days = BC.business_window(timedelta(days=2))
    assert two_days == timedelta(hours=18)
    # 1 h Friday, 9 h Monday, 8 h Tuesday.
    assert BC.add_business_time(local(2026, 3, 13, 16), two_days) == local(2026, 3, 17, 16)
    # Over BC Day: 1 h Friday, Monday closed, 9 h Tuesday, 8 h Wednesday.
    assert BC.add_business_time(local(2026, 7, 31, 16), two_days) == local(2026, 8, 5, 16)
    # Tuesday before Truth and Reconciliation Day: 1 h, closed, 9 h, 8 h -> Friday.
    assert BC.add_business_time(local(2026, 9, 29, 16), two_days) == local(2026, 10, 2, 16)


def test_business_window_counts_days_as_business_days() -> None:
    assert BC.business_window(timedelta(days=1, hours=4)) == timedelta(hours=13)
    assert BC.business_window(timedelta(hours=4)) == timedelta(hours=4)
    assert ON.business_window(timedelta(days=3)) == timedelta(hours=27)
    with pytest.raises(ValueError, match="negative"):
        BC.business_window(timedelta(hours=-1))


def test_add_business_time_from_outside_hours_starts_at_next_opening() -> None:
    assert BC.add_business_time(local(2026, 3, 14, 10), timedelta(hours=1)) == local(2026, 3, 16, 9)
    assert BC.add_business_time(local(2026, 3, 13, 17), timedelta(hours=1)) == local(2026, 3, 16, 9)
    assert BC.add_business_time(local(2026, 3, 10, 6), timedelta(minutes=30)) == local(
        2026, 3, 10, 8, 30
    )


def test_a_deadline_that_fills_a_day_falls_at_its_close() -> None:
    assert BC.add_business_time(local(2026, 3, 16, 8), timedelta(hours=9)) == local(2026, 3, 16, 17)
    assert BC.add_business_time(local(2026, 3, 16, 8), timedelta(hours=18)) == \
        local(2026, 3, 17, 17)


def test_add_zero_and_negative() -> None:
    sat = local(2026, 3, 14, 10)
    assert BC.add_business_time(sat, timedelta(0)) == sat
    with pytest.raises(ValueError, match="negative"):
        BC.add_business_time(sat, timedelta(seconds=-1))


def test_add_business_time_across_new_year() -> None:
    # Wed 2026-12-30 16:00: 1 h, Thu 31st 9 h, Fri 1 Jan holiday, weekend, Mon 4 Jan 8 h.
    assert BC.add_business_time(local(2026, 12, 30, 16), timedelta(hours=18)) == local(
        2027, 1, 4, 16
    )
    assert BC.business_seconds_between(local(2026, 12, 30, 16), local(2027, 1, 4, 16)) == 18 * H


def test_dst_does_not_shift_business_hours() -> None:
    # Spring forward Sun 2026-03-08: Fri 16:00 PST -> Mon 10:00 PDT is 1 h + 2 h, while
    # the instants are 65 h apart (one hour fewer than the wall clocks suggest).
    a, b = local(2026, 3, 6, 16), local(2026, 3, 9, 10)
    assert b.astimezone(UTC) - a.astimezone(UTC) == timedelta(hours=65)
    assert BC.business_seconds_between(a, b) == 3 * H
    # IANA 2026: British Columbia stays on UTC-7 from then on; Sun 2026-11-01 changes
    # nothing, so Fri 16:00 -> Mon 10:00 is 66 h apart (the OS's older data said 67).
    a, b = local(2026, 10, 30, 16), local(2026, 11, 2, 10)
    assert b.astimezone(UTC) - a.astimezone(UTC) == timedelta(hours=66)
    assert a.utcoffset() == b.utcoffset() == timedelta(hours=-7)
    assert BC.business_seconds_between(a, b) == 3 * H
    # Ontario still falls back that night: 67 h apart, still 3 business hours.
    a, b = tor(2026, 10, 30, 16), tor(2026, 11, 2, 10)
    assert b.astimezone(UTC) - a.astimezone(UTC) == timedelta(hours=67)
    assert ON.business_seconds_between(a, b) == 3 * H
    assert BC.add_business_time(local(2026, 3, 6, 16), timedelta(hours=3)) == local(2026, 3, 9, 10)


def test_open_period_spanning_the_dst_change_has_its_real_length() -> None:
    # 00:00 PST to 12:00 PDT is 11 real hours; 2026-11-01 no longer changes BC's clocks.
    assert MORNINGS.business_seconds_between(local(2026, 3, 8), local(2026, 3, 9)) == 11 * H
    assert MORNINGS.business_seconds_between(local(2026, 11, 1), local(2026, 11, 2)) == 12 * H
    assert MORNINGS.business_seconds_between(local(2026, 3, 7), local(2026, 3, 8)) == 12 * H
    # Sat 06:00-12:00 is 6 h; the other 6 h run from 00:00 PST Sunday (08:00 UTC) to
    # 14:00 UTC, which the wall clock shows as 07:00 PDT.
    got = MORNINGS.add_business_time(local(2026, 3, 7, 6), timedelta(hours=12))
    assert got == local(2026, 3, 8, 7)
    assert got.astimezone(UTC) == datetime(2026, 3, 8, 14, tzinfo=UTC)


def test_business_instants() -> None:
    assert BC.is_business_instant(local(2026, 3, 10, 8))
    assert BC.is_business_instant(local(2026, 3, 10, 16, 59))
    assert not BC.is_business_instant(local(2026, 3, 10, 17))
    assert not BC.is_business_instant(local(2026, 3, 10, 7, 59))
    assert not BC.is_business_instant(local(2026, 3, 14, 12))
    assert not BC.is_business_instant(local(2026, 8, 3, 12))
    # 18:00 UTC on a Tuesday is 11:00 in Vancouver.
    assert BC.is_business_instant(datetime(2026, 3, 10, 18, tzinfo=UTC))
    assert not BC.is_business_instant(datetime(2026, 3, 10, 3, tzinfo=UTC))


def test_inputs_in_any_zone_give_the_same_answer() -> None:
    a, b = local(2026, 7, 31, 16), local(2026, 8, 4, 10)
    assert BC.business_seconds_between(a.astimezone(UTC), b.astimezone(TOR)) == 3 * H
    got = BC.add_business_time(a.astimezone(UTC), timedelta(hours=3))
    assert got.tzinfo is UTC
    assert got == b


def test_reversed_span_is_negative() -> None:
    a, b = local(2026, 3, 13, 15), local(2026, 3, 16, 10)
    assert BC.business_seconds_between(b, a) == -4 * H
    assert BC.business_time_between(b, a) == -timedelta(hours=4)


def test_regions() -> None:
    national = BusinessCalendar(VANCOUVER, region="CA")
    assert not national.is_business_day(date(2026, 7, 1))
    assert national.is_business_day(date(2026, 8, 3))  # BC Day is provincial only
    no_holidays = BusinessCalendar(VANCOUVER, region=None)
    assert no_holidays.is_business_day(date(2026, 7, 1))
    assert not no_holidays.is_business_day(date(2026, 7, 4))  # a Saturday
    assert date(2026, 12, 28) in ON.holidays_in(2026)  # Boxing Day observed
    with pytest.raises(ValueError, match="unknown holiday region 'XX'"):
        BusinessCalendar(VANCOUVER, region="XX")
    with pytest.raises(ValueError, match="unknown holiday region 'CA-ZZ'"):
        BusinessCalendar(VANCOUVER, region="CA-ZZ")


def test_rejects_bad_configuration_and_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="start before"):
        BusinessCalendar(VANCOUVER, time(17), time(8))
    with pytest.raises(ValueError, match="workdays"):
        BusinessCalendar(VANCOUVER, workdays=[])
    with pytest.raises(ValueError, match="workdays"):
        BusinessCalendar(VANCOUVER, workdays=[7])
    with pytest.raises(ValueError, match="aware"):
        BC.business_seconds_between(datetime(2026, 3, 10, 9), local(2026, 3, 10, 10))
    with pytest.raises(ValueError, match="aware"):
        BC.add_business_time(datetime(2026, 3, 10, 9), timedelta(hours=1))
