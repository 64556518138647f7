"""Clocks of hand-built consult timelines, and the deadlines the scheduler uses."""

from datetime import UTC, datetime, timedelta

import pytest

from econsult.clock import zone
from econsult.turnaround.calendar import BusinessCalendar
from econsult.turnaround.clocks import (
    ClockEvent,
    at_risk_at,
    compute_clocks,
    respond_deadline,
    response_pauses,
    target_seconds,
)
from tests.factories import VANCOUVER, local

BC = BusinessCalendar(VANCOUVER)
H = 3600.0


def ev(type_: str, at: datetime, by_specialist: bool = False) -> ClockEvent:
    return ClockEvent(type_, at, by_specialist)


def test_straight_through_consult() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("assigned", local(2026, 3, 10, 9)),
        ev("acknowledged", local(2026, 3, 10, 9, 20), True),
        ev("message", local(2026, 3, 10, 10), True),
        ev("answered", local(2026, 3, 10, 12), True),
        ev("closed", local(2026, 3, 11, 8)),
    ])
    assert c.submitted_at == local(2026, 3, 10, 9)
    assert c.seconds_to_acknowledge == 20 * 60
    assert c.first_response_at == local(2026, 3, 10, 10)
    assert c.seconds_to_first_response == 1 * H
    assert c.seconds_to_answer == 3 * H
    assert c.specialist_seconds_to_answer == 3 * H
    assert c.paused_seconds == 0
    assert c.closed_at == local(2026, 3, 11, 8)
    assert c.cancelled_at is None


def test_clarification_pause_is_excluded_from_specialist_time() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("acknowledged", local(2026, 3, 10, 9, 10), True),
        ev("clarification_requested", local(2026, 3, 10, 10), True),
        ev("gp_replied", local(2026, 3, 10, 14)),
        ev("answered", local(2026, 3, 10, 15), True),
    ])
    assert c.first_response_at == local(2026, 3, 10, 10)  # the question is a response
    assert c.seconds_to_answer == 6 * H
    assert c.paused_seconds == 4 * H
    assert c.specialist_seconds_to_answer == 2 * H


def test_gp_messages_and_acknowledgement_are_not_a_first_response() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("acknowledged", local(2026, 3, 10, 9, 5), True),
        ev("message", local(2026, 3, 10, 9, 30), by_specialist=False),
        ev("message", local(2026, 3, 10, 11), by_specialist=True),
    ])
    assert c.first_response_at == local(2026, 3, 10, 11)
    assert c.answered_at is None
    assert c.seconds_to_answer is None
    assert c.specialist_seconds_to_answer is None


def test_reroute_does_not_reset_the_clock() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("assigned", local(2026, 3, 10, 9)),
        ev("rerouted", local(2026, 3, 10, 13)),
        ev("pooled", local(2026, 3, 10, 13)),
        ev("acknowledged", local(2026, 3, 11, 9), True),
        ev("answered", local(2026, 3, 11, 10), True),
    ])
    assert c.seconds_to_acknowledge == 24 * H
    assert c.seconds_to_answer == 25 * H


def test_follow_up_keeps_the_first_answer_and_later_pauses_do_not_count() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("answered", local(2026, 3, 10, 11), True),
        ev("follow_up", local(2026, 3, 11, 9)),
        ev("clarification_requested", local(2026, 3, 11, 10), True),
        ev("gp_replied", local(2026, 3, 12, 10)),
        ev("answered", local(2026, 3, 12, 11), True),
    ])
    assert c.answered_at == local(2026, 3, 10, 11)
    assert c.seconds_to_answer == 2 * H
    assert c.paused_seconds == 0
    assert response_pauses([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("answered", local(2026, 3, 10, 11), True),
        ev("clarification_requested", local(2026, 3, 11, 10), True),
    ]) == []


def test_business_time_with_a_pause_over_bc_day() -> None:
    # Semi-urgent dermatology, Friday before BC Day (Mon 2026-08-03).
    events = [
        ev("submitted", local(2026, 7, 31, 16)),
        ev("clarification_requested", local(2026, 7, 31, 16, 30), True),
        ev("gp_replied", local(2026, 8, 4, 9)),
        ev("answered", local(2026, 8, 4, 11), True),
    ]
    c = compute_clocks(events, business=BC)
    # Open time Fri 16-17 + Tue 8-11 = 4 h; paused Fri 16:30-17 + Tue 8-9 = 1.5 h.
    assert c.specialist_seconds_to_answer == 2.5 * H
    # Wall clock: Fri 16:00 -> Tue 11:00 is 91 h, of which 88.5 h awaiting the GP.
    assert c.seconds_to_answer == 91 * H
    assert c.paused_seconds == 88.5 * H
    assert compute_clocks(events).specialist_seconds_to_answer == 2.5 * H


def test_wall_clock_across_dst() -> None:
    spring = compute_clocks([
        ev("submitted", local(2026, 3, 7, 12)),
        ev("answered", local(2026, 3, 8, 12), True),
    ])
    assert spring.seconds_to_answer == 23 * H
    # IANA 2026: BC keeps UTC-7 through 1 November, so a day is 24 h here now ...
    fall = compute_clocks([
        ev("submitted", local(2026, 10, 31, 12)),
        ev("clarification_requested", local(2026, 10, 31, 13), True),
        ev("gp_replied", local(2026, 11, 1, 13)),
        ev("answered", local(2026, 11, 1, 14), True),
    ])
    assert fall.seconds_to_answer == 26 * H
    assert fall.paused_seconds == 24 * H
    assert fall.specialist_seconds_to_answer == 2 * H
    # ... while Toronto's 1 November is still 25 h long.
    tor = zone("America/Toronto")
    fall = compute_clocks([
        ev("submitted", datetime(2026, 10, 31, 12, tzinfo=tor)),
        ev("clarification_requested", datetime(2026, 10, 31, 13, tzinfo=tor), True),
        ev("gp_replied", datetime(2026, 11, 1, 13, tzinfo=tor)),
        ev("answered", datetime(2026, 11, 1, 14, tzinfo=tor), True),
    ])
    assert fall.seconds_to_answer == 27 * H
    assert fall.paused_seconds == 25 * H


def test_open_pause_counts_to_the_last_event_and_cancel_ends_it() -> None:
    waiting = [
        ev("submitted", local(2026, 3, 10, 9)),
        ev("clarification_requested", local(2026, 3, 10, 10), True),
        ev("message", local(2026, 3, 10, 12), True),
    ]
    assert compute_clocks(waiting).paused_seconds == 2 * H
    assert response_pauses(waiting) == [(local(2026, 3, 10, 10), None)]
    cancelled = compute_clocks([*waiting, ev("cancelled", local(2026, 3, 10, 15))])
    assert cancelled.cancelled_at == local(2026, 3, 10, 15)
    assert cancelled.paused_seconds == 5 * H
    assert cancelled.answered_at is None


def test_answer_while_paused_ends_the_pause() -> None:
    c = compute_clocks([
        ev("submitted", local(2026, 3, 10, 9)),
        ev("clarification_requested", local(2026, 3, 10, 10), True),
        ev("clarification_requested", local(2026, 3, 10, 11), True),
        ev("answered", local(2026, 3, 10, 13), True),
    ])
    assert c.paused_seconds == 3 * H
    assert c.specialist_seconds_to_answer == 1 * H


def test_events_are_taken_in_time_order_in_any_zone() -> None:
    c = compute_clocks([
        ev("answered", datetime(2026, 3, 10, 19, tzinfo=UTC), True),  # 12:00 PDT
        ev("submitted", local(2026, 3, 10, 9)),
        ev("gp_replied", local(2026, 3, 10, 11)),
        ev("clarification_requested", local(2026, 3, 10, 10), True),
    ])
    assert c.seconds_to_answer == 3 * H
    assert c.paused_seconds == 1 * H


def test_rejects_unsubmitted_and_naive() -> None:
    with pytest.raises(ValueError, match="submitted"):
        compute_clocks([ev("acknowledged", local(2026, 3, 10, 9))])
    with pytest.raises(ValueError, match="timezone-aware"):
        ClockEvent("submitted", datetime(2026, 3, 10, 9))


def test_wall_deadline_moves_by_each_pause() -> None:
    sub = local(2026, 3, 2, 9)
    assert respond_deadline(sub, timedelta(days=7), []) == local(2026, 3, 9, 10)  # 168 h, DST
    pauses = [(local(2026, 3, 3, 9), local(2026, 3, 4, 9)),
              (local(2026, 3, 5, 9), local(2026, 3, 5, 12))]
    assert respond_deadline(sub, timedelta(hours=2), pauses) == local(2026, 3, 2, 11)
    assert respond_deadline(sub, timedelta(days=7), pauses) == local(2026, 3, 10, 13)


def test_deadline_is_none_while_paused_unless_already_breached() -> None:
    sub = local(2026, 3, 10, 9)
    assert respond_deadline(sub, timedelta(hours=2), [(local(2026, 3, 10, 10), None)]) is None
    late = [(local(2026, 3, 10, 12), None)]
    assert respond_deadline(sub, timedelta(hours=2), late) == local(2026, 3, 10, 11)


def test_business_deadline_friday_16h_two_business_days() -> None:
    fri = local(2026, 7, 31, 16)
    two_days = timedelta(days=2)
    assert respond_deadline(fri, two_days, [], BC) == local(2026, 8, 5, 16)
    # A 30-minute clarification on Tuesday pushes it by 30 open minutes.
    pause = [(local(2026, 8, 4, 10), local(2026, 8, 4, 10, 30))]
    assert respond_deadline(fri, two_days, pause, BC) == local(2026, 8, 5, 16, 30)
    # A pause from Friday 16:30 to Tuesday 09:00 uses 1.5 open hours.
    pause = [(local(2026, 7, 31, 16, 30), local(2026, 8, 4, 9))]
    assert respond_deadline(fri, two_days, pause, BC) == local(2026, 8, 6, 8, 30)
    assert target_seconds(two_days, BC) == 18 * H
    assert target_seconds(two_days) == 48 * H


def test_at_risk_at_three_quarters_of_the_window() -> None:
    sub = local(2026, 3, 10, 9)
    assert at_risk_at(sub, timedelta(hours=2), []) == local(2026, 3, 10, 10, 30)
    assert at_risk_at(sub, timedelta(hours=2), [], fraction=0.5) == local(2026, 3, 10, 10)
    assert at_risk_at(sub, timedelta(hours=2), [(local(2026, 3, 10, 10), None)]) is None
    # 75% of two business days is 13.5 open hours: Fri 1 h, Tue 9 h, Wed 3.5 h.
    assert at_risk_at(local(2026, 7, 31, 16), timedelta(days=2), [], BC) == \
        local(2026, 8, 5, 11, 30)
    with pytest.raises(ValueError, match="fraction"):
        at_risk_at(sub, timedelta(hours=2), [], fraction=0)
    with pytest.raises(ValueError, match="negative"):
        respond_deadline(sub, timedelta(hours=-2), [])
