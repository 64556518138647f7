"""Properties of response deadlines and clocks over generated timelines."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from econsult.turnaround.calendar import BusinessCalendar
from econsult.turnaround.clocks import (
    ClockEvent,
    Pause,
    at_risk_at,
    compute_clocks,
    respond_deadline,
)
from tests.factories import VANCOUVER

BC = BusinessCalendar(VANCOUVER)
submissions = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
windows = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=10))
business = st.sampled_from([None, BC])


def _pauses(submitted: datetime, gap_list: list[timedelta]) -> list[tuple[datetime, datetime]]:
    """Alternate running and paused stretches after submission."""
    pauses: list[tuple[datetime, datetime]] = []
    t = submitted
    for run, wait in zip(gap_list[::2], gap_list[1::2], strict=False):
        pauses.append((t + run, t + run + wait))
        t = t + run + wait
    return pauses


def _running(
    a: datetime, b: datetime, pauses: list[tuple[datetime, datetime]],
    cal: BusinessCalendar | None,
) -> timedelta:
    """Clock time from a to b outside the pauses, computed independently."""
    def span(x: datetime, y: datetime) -> timedelta:
        if y <= x:
            return timedelta(0)
        return y - x if cal is None else cal.business_time_between(x, y)

    total = span(a, b)
    for s, e in pauses:
        total -= span(max(s, a), min(e, b))
    return total


@given(submissions, windows, st.lists(gaps, max_size=8), business)
def test_deadline_spends_exactly_the_window_outside_pauses(
    submitted: datetime, window: timedelta, gap_list: list[timedelta],
    cal: BusinessCalendar | None,
) -> None:
    pauses = _pauses(submitted, gap_list)
    deadline = respond_deadline(submitted, window, pauses, cal)
    assert deadline is not None
    expected = window if cal is None else cal.business_window(window)
    assert _running(submitted, deadline, pauses, cal) == expected
    # Earliest such instant: a microsecond earlier the window has not run out.
    assert _running(submitted, deadline - timedelta(microseconds=1), pauses, cal) < expected
    risk = at_risk_at(submitted, window, pauses, cal)
    assert risk is not None and submitted <= risk <= deadline


@given(submissions, windows, st.lists(gaps, min_size=1, max_size=6), business)
def test_open_pause_gives_none_exactly_when_the_window_was_still_running(
    submitted: datetime, window: timedelta, gap_list: list[timedelta],
    cal: BusinessCalendar | None,
) -> None:
    pauses = _pauses(submitted, gap_list)
    start_open = (pauses[-1][1] if pauses else submitted) + gap_list[-1]
    closed_deadline = respond_deadline(submitted, window, pauses, cal)
    assert closed_deadline is not None
    with_open: list[Pause] = [*pauses, (start_open, None)]
    got = respond_deadline(submitted, window, with_open, cal)
    if closed_deadline <= start_open:
        assert got == closed_deadline
    else:
        assert got is None


event_types = st.sampled_from([
    "acknowledged", "message", "clarification_requested", "gp_replied", "answered",
    "follow_up", "rerouted", "pooled", "escalated",
])


@given(submissions, st.lists(st.tuples(event_types, gaps, st.booleans()), max_size=12), business)
def test_specialist_time_is_answer_time_less_pauses(
    submitted: datetime, steps: list[tuple[str, timedelta, bool]], cal: BusinessCalendar | None,
) -> None:
    events = [ClockEvent("submitted", submitted)]
    t = submitted
    for kind, gap, by_specialist in steps:
        t += gap
        events.append(ClockEvent(kind, t, by_specialist))
    c = compute_clocks(events, business=cal)
    assert c.paused_seconds >= 0
    if c.answered_at is None:
        assert c.specialist_seconds_to_answer is None
        return
    assert c.seconds_to_answer is not None and c.specialist_seconds_to_answer is not None
    assert c.first_response_at is not None and c.first_response_at <= c.answered_at
    assert c.paused_seconds <= c.seconds_to_answer
    if cal is None:
        # Float seconds: equal to within the microsecond the clocks are exact to.
        drift = c.specialist_seconds_to_answer - (c.seconds_to_answer - c.paused_seconds)
        assert abs(drift) < 1e-6
    assert 0 <= c.specialist_seconds_to_answer <= c.seconds_to_answer
