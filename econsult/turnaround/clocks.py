"""Turnaround clocks derived from a consult's event list, and its response deadlines.

Definitions (the dashboard, the CSV export and the deadline scheduler all use these):

- Every clock runs from the first ``submitted`` event. A ``rerouted`` event does not
  reset it: the GP has been waiting since submission whichever specialty answers,
  and resetting would let a consult bounced between services look fast.
- Acknowledged: the first ``acknowledged`` event (by whichever specialist).
- First response: the first thing a specialist sends the GP: a ``message`` with
  ``by_specialist``, a ``clarification_requested`` or an ``answered``. An
  acknowledgement is not a response; it tells the GP nothing about the patient.
- Answered: the first ``answered`` event. A ``follow_up`` reopens the thread but the
  first answer stands: that is when the GP had advice.
- The response clock pauses from ``clarification_requested`` until ``gp_replied``
  (or until ``answered``, ``closed`` or ``cancelled`` if the GP never replies):
  the specialist cannot act while waiting on the GP. Only pauses before the first
  answer count.
- ``seconds_to_*`` are elapsed (wall) seconds. ``specialist_seconds_to_answer``
  leaves out the pauses, and is open business time when a calendar is given (pass
  one exactly when the target window is in business time).

Event types not named here (``pooled``, ``escalated``, ``at_risk``, ...) do not move
these clocks and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from econsult.turnaround.calendar import BusinessCalendar

Pause = tuple[datetime, datetime | None]

_RESPONSES = frozenset({"clarification_requested", "answered"})
_PAUSE_ENDS = frozenset({"gp_replied", "answered", "closed", "cancelled"})


@dataclass(frozen=True, slots=True)
class ClockEvent:
    type: str
    at: datetime
    by_specialist: bool = False

    def __post_init__(self) -> None:
        # Held in UTC: Python compares and subtracts two datetimes sharing one zone by
        # their wall clocks, which is an hour off across a DST change.
        object.__setattr__(self, "at", _utc(self.at, f"{self.type} event time"))


@dataclass(frozen=True, slots=True)
class Clocks:
    submitted_at: datetime
    acknowledged_at: datetime | None
    first_response_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    seconds_to_acknowledge: float | None
    seconds_to_first_response: float | None
    seconds_to_answer: float | None
    specialist_seconds_to_answer: float | None
    paused_seconds: float


def _utc(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {dt!r}")
    return dt.astimezone(UTC)


def _ordered(events: Iterable[ClockEvent]) -> list[ClockEvent]:
    # Stable sort: rows written by a server whose clock stepped back still count by
    # time, and events with equal times keep the order they were recorded in.
    return sorted(events, key=lambda e: e.at)


def _first(events: Sequence[ClockEvent], *types: str) -> datetime | None:
    return next((e.at for e in events if e.type in types), None)


def _response_pauses(events: Sequence[ClockEvent]) -> list[Pause]:
    pauses: list[Pause] = []
    started: datetime | None = None
    submitted = False
    for e in events:
        if e.type == "submitted":
            submitted = True
        if not submitted:
            continue
        if e.type == "clarification_requested" and started is None:
            started = e.at
        elif e.type in _PAUSE_ENDS and started is not None:
            pauses.append((started, e.at))
            started = None
        if e.type == "answered":
            return pauses
    if started is not None:
        pauses.append((started, None))
    return pauses


def response_pauses(events: Iterable[ClockEvent]) -> list[Pause]:
    """The awaiting-GP pauses of the response clock before the first answer.

    The last pause has end None while the consult is still waiting on the GP.
    """
    return _response_pauses(_ordered(events))


def _seconds(a: datetime, b: datetime | None) -> float | None:
    return None if b is None else (b - a).total_seconds()


def compute_clocks(
    events: Iterable[ClockEvent], *, business: BusinessCalendar | None = None
) -> Clocks:
    """Clocks of one consult; raises ValueError if it was never submitted."""
    ordered = _ordered(events)
    submitted_at = _first(ordered, "submitted")
    if submitted_at is None:
        raise ValueError("a consult's events must include 'submitted'")
    after = [e for e in ordered if e.at >= submitted_at]
    acknowledged_at = _first(after, "acknowledged")
    first_response_at = next(
        (
            e.at
            for e in after
            if e.type in _RESPONSES or (e.type == "message" and e.by_specialist)
        ),
        None,
    )
    answered_at = _first(after, "answered")
    pauses = _response_pauses(ordered)
    # An open pause (still waiting on the GP) is counted up to the latest event seen.
    last = ordered[-1].at
    closed = [(s, last if e is None else e) for s, e in pauses]
    paused = sum((e - s for s, e in closed), timedelta())

    specialist: float | None = None
    if answered_at is not None:
        # Summed as timedeltas (whole microseconds) so the pieces cancel exactly.
        if business is None:
            working = answered_at - submitted_at - paused
        else:
            working = business.business_time_between(submitted_at, answered_at) - sum(
                (business.business_time_between(s, e) for s, e in closed), timedelta()
            )
        specialist = working.total_seconds()
    return Clocks(
        submitted_at=submitted_at,
        acknowledged_at=acknowledged_at,
        first_response_at=first_response_at,
        answered_at=answered_at,
        closed_at=_first(after, "closed"),
        cancelled_at=_first(after, "cancelled"),
        seconds_to_acknowledge=_seconds(submitted_at, acknowledged_at),
        seconds_to_first_response=_seconds(submitted_at, first_response_at),
        seconds_to_answer=_seconds(submitted_at, answered_at),
        specialist_seconds_to_answer=specialist,
        paused_seconds=paused.total_seconds(),
    )


def respond_deadline(
    submitted_at: datetime,
    respond_within: timedelta,
    pauses: Sequence[Pause],
    business: BusinessCalendar | None = None,
) -> datetime | None:
    """When the response window runs out, with the clock stopped during `pauses`.

    `respond_within` is the target as configured: elapsed time, or with `business`
    open time where each whole day is a business day (see `target_seconds`).
    None while the clock is paused, since the deadline depends on when the GP
    replies; but a window that had already run out before a pause began keeps its
    (past) deadline: asking a question late does not undo a breach.
    """
    if respond_within < timedelta(0):
        raise ValueError(f"a response window must not be negative (got {respond_within})")
    if business is not None:
        respond_within = business.business_window(respond_within)
    return _deadline(submitted_at, respond_within, pauses, business)


def _deadline(
    submitted_at: datetime,
    window: timedelta,
    pauses: Sequence[Pause],
    business: BusinessCalendar | None,
) -> datetime | None:
    """Walk the pauses, spending `window` (elapsed, or open time) on the gaps between."""
    cursor = _utc(submitted_at, "submitted_at")
    remaining = window
    utc_pauses = [
        (_utc(s, "pause start"), None if e is None else _utc(e, "pause end")) for s, e in pauses
    ]
    for start, end in sorted(utc_pauses, key=lambda p: p[0]):
        if end is not None and end <= cursor:
            continue
        if start > cursor:
            active = _elapsed(cursor, start, business)
            if active >= remaining:
                break
            remaining -= active
        if end is None:
            return None
        cursor = max(cursor, end)
    if business is None:
        deadline = cursor + remaining
    else:
        deadline = business.add_business_time(cursor, remaining)
    return deadline.astimezone(submitted_at.tzinfo)


def target_seconds(window: timedelta, business: BusinessCalendar | None = None) -> float:
    """A target window in the units of `Clocks.specialist_seconds_to_answer`.

    With a calendar, each whole day of the window is one business day of open time,
    so "P2D" of business time is 18 hours of 08:00-17:00 open time.
    """
    if business is None:
        return window.total_seconds()
    return business.business_window(window).total_seconds()


def at_risk_at(
    submitted_at: datetime,
    respond_within: timedelta,
    pauses: Sequence[Pause],
    business: BusinessCalendar | None = None,
    *,
    fraction: float = 0.75,
) -> datetime | None:
    """When `fraction` of the response window has been used: the `at_risk` moment.

    The fraction is of the window as counted (open time in business mode), so 75%
    of two business days is 13.5 open hours, not 36 hours.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"at-risk fraction must be in (0, 1] (got {fraction})")
    if business is None:
        return respond_deadline(submitted_at, respond_within * fraction, pauses)
    # Convert before scaling: 0.75 x P2D would otherwise become P1DT12H -> 1 day + 12 h.
    open_time = business.business_window(respond_within) * fraction
    return _deadline(submitted_at, open_time, pauses, business)


def _elapsed(a: datetime, b: datetime, business: BusinessCalendar | None) -> timedelta:
    if business is None:
        return b - a
    return business.business_time_between(a, b)
