"""Properties of business time, checked against a slow day-by-day reference."""

from datetime import UTC, date, datetime, time, timedelta

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.clock import zone
from econsult.turnaround.calendar import BusinessCalendar
from tests.factories import VANCOUVER

CALENDARS = [
    BusinessCalendar(VANCOUVER),
    BusinessCalendar(zone("America/Toronto"), time(9), time(17, 30), region="CA-ON"),
    # Open across the 02:00 DST change, every day: day lengths of 11, 12 and 13 h.
    BusinessCalendar(VANCOUVER, time(0), time(12), workdays=range(7), region=None),
    BusinessCalendar(zone("UTC"), time(7), time(19), workdays=range(6), region="CA"),
]
ZONES = [UTC, VANCOUVER, zone("America/Toronto"), zone("Asia/Kolkata")]

calendars = st.sampled_from(CALENDARS)
instants = st.builds(
    lambda dt, zone: dt.astimezone(zone),
    st.datetimes(min_value=datetime(2025, 10, 1), max_value=datetime(2027, 4, 1),
                 timezones=st.just(UTC)),
    st.sampled_from(ZONES),
)
open_time = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


def reference_seconds(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Walk every local day from scratch, straight from the holidays library."""
    total = 0.0
    country, _, subdiv = (cal.region or "").partition("-")
    day = a.astimezone(cal.tz).date() - timedelta(days=1)
    last = b.astimezone(cal.tz).date() + timedelta(days=1)
    while day <= last:
        closed = bool(country) and day in holidays.country_holidays(
            country, subdiv=subdiv or None, years=day.year
        )
        if day.weekday() in cal.workdays and not closed:
            # None of these calendars opens or closes inside a DST gap, so the plain
            # fold=0 reading of the wall clock is unambiguous.
            opens = datetime.combine(day, cal.start, tzinfo=cal.tz)
            closes = datetime.combine(day, cal.end, tzinfo=cal.tz)
            total += max(0.0, min(b.timestamp(), closes.timestamp())
                         - max(a.timestamp(), opens.timestamp()))
        day += timedelta(days=1)
    return total


def _sorted(*xs: datetime) -> list[datetime]:
    return sorted(xs, key=lambda d: d.timestamp())


@st.composite
def business_starts(draw: st.DrawFn, cal: BusinessCalendar) -> datetime:
    """An instant inside open hours."""
    day = draw(st.dates(min_value=date(2025, 10, 1), max_value=date(2027, 4, 1)))
    while not cal.is_business_day(day):
        day += timedelta(days=1)
    opens = datetime.combine(day, cal.start, tzinfo=cal.tz).astimezone(UTC)
    closes = datetime.combine(day, cal.end, tzinfo=cal.tz).astimezone(UTC)
    offset = draw(st.timedeltas(min_value=timedelta(0), max_value=closes - opens))
    return min(opens + offset, closes - timedelta(microseconds=1))


@settings(max_examples=150, deadline=None)
@given(calendars, instants, instants)
def test_matches_day_by_day_reference(cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    a, b = _sorted(a, b)
    assert abs(cal.business_seconds_between(a, b) - reference_seconds(cal, a, b)) < 1e-5


@given(calendars, instants, instants, instants)
def test_additive_and_antisymmetric(
    cal: BusinessCalendar, x: datetime, y: datetime, z: datetime
) -> None:
    a, b, c = _sorted(x, y, z)
    f = cal.business_time_between
    assert f(a, b) + f(b, c) == f(a, c)
    assert f(b, a) == -f(a, b)
    assert abs(cal.business_seconds_between(a, b) + cal.business_seconds_between(b, c)
               - cal.business_seconds_between(a, c)) < 1e-6


@given(st.data(), calendars, open_time)
def test_add_inverts_between_for_starts_in_hours(
    data: st.DataObject, cal: BusinessCalendar, delta: timedelta
) -> None:
    start = data.draw(business_starts(cal))
    assert cal.is_business_instant(start)
    assert cal.business_time_between(start, cal.add_business_time(start, delta)) == delta


@given(calendars, instants, open_time.filter(lambda d: d > timedelta(0)))
def test_add_gives_the_earliest_instant_from_any_start(
    cal: BusinessCalendar, start: datetime, delta: timedelta
) -> None:
    end = cal.add_business_time(start, delta)
    assert end > start
    assert cal.business_time_between(start, end) == delta
    just_before = end - timedelta(microseconds=1)
    assert cal.business_time_between(start, just_before) < delta
    assert cal.is_business_instant(just_before)


@given(calendars, instants, open_time, open_time)
def test_add_is_monotone(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    d1, d2 = sorted((d1, d2))
    assert cal.add_business_time(start, d1) <= cal.add_business_time(start, d2)


@given(calendars, instants, instants, instants)
def test_between_is_monotone_in_its_end(
    cal: BusinessCalendar, s: datetime, t1: datetime, t2: datetime
) -> None:
    t1, t2 = _sorted(t1, t2)
    assert cal.business_time_between(s, t1) <= cal.business_time_between(s, t2)


@given(calendars, instants)
def test_is_business_instant_agrees_with_a_one_microsecond_span(
    cal: BusinessCalendar, t: datetime
) -> None:
    one = cal.business_time_between(t, t + timedelta(microseconds=1))
    assert one == (timedelta(microseconds=1) if cal.is_business_instant(t) else timedelta(0))
