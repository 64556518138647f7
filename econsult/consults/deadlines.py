"""The deadlines a consult carries, kept in columns so the scheduler can find the next
one with an index, and recomputed from the event timeline when the clock pauses."""

from __future__ import annotations

from datetime import datetime

from econsult.models import Consult, ConsultEvent, ConsultState
from econsult.routing.targets import DEFAULT_AT_RISK_FRACTION, Target
from econsult.turnaround.calendar import BusinessCalendar
from econsult.turnaround.clocks import (
    ClockEvent,
    at_risk_at,
    respond_deadline,
    response_pauses,
    target_seconds,
)

__all__ = ["AT_RISK_FRACTION", "ack_deadline", "clock_events", "next_due", "recompute",
           "start_clocks", "stop_clocks", "target_seconds"]
# The default; each target carries its own (`Target.at_risk_fraction`, set on /targets).
AT_RISK_FRACTION = DEFAULT_AT_RISK_FRACTION
_SPECIALIST_EVENTS = frozenset({"clarification_requested", "answered", "specialist_message"})


def _calendar(target: Target, calendar: BusinessCalendar) -> BusinessCalendar | None:
    return calendar if target.business_time else None


def start_clocks(
    consult: Consult, target: Target, now: datetime, calendar: BusinessCalendar, *, assigned: bool
) -> None:
    cal = _calendar(target, calendar)
    consult.respond_due_at = respond_deadline(now, target.respond_within, [], cal)
    consult.at_risk_due_at = at_risk_at(
        now, target.respond_within, [], cal, fraction=target.at_risk_fraction
    )
    consult.target_seconds = target_seconds(target.respond_within, cal)
    consult.ack_due_at = ack_deadline(now, target, calendar) if assigned else None


def ack_deadline(start: datetime, target: Target, calendar: BusinessCalendar) -> datetime:
    cal = _calendar(target, calendar)
    if cal is None:
        return start + target.acknowledge_within
    return cal.add_business_time(start, cal.business_window(target.acknowledge_within))


def clock_events(events: list[ConsultEvent]) -> list[ClockEvent]:
    mapped = []
    for event in events:
        kind = "message" if event.type == "specialist_message" else event.type
        mapped.append(ClockEvent(kind, event.at, by_specialist=event.type in _SPECIALIST_EVENTS))
    return mapped


def recompute(
    consult: Consult, target: Target, events: list[ConsultEvent], calendar: BusinessCalendar
) -> None:
    """Response deadline and at-risk moment from submission and the pauses so far;
    both None while paused (the clock waits for the GP)."""
    cal = _calendar(target, calendar)
    pauses = response_pauses(clock_events(events))
    due = respond_deadline(consult.submitted_at, target.respond_within, pauses, cal)
    consult.respond_due_at = due
    risk = at_risk_at(
        consult.submitted_at, target.respond_within, pauses, cal,
        fraction=target.at_risk_fraction,
    )
    consult.at_risk_due_at = None if consult.at_risk_at is not None else risk


def stop_clocks(consult: Consult) -> None:
    consult.ack_due_at = None
    consult.at_risk_due_at = None


def next_due(consult: Consult) -> datetime | None:
    """The earliest moment the scheduler must look at this consult again."""
    candidates = []
    if consult.state == ConsultState.assigned and consult.ack_due_at:
        candidates.append(consult.ack_due_at)
    if consult.state in (ConsultState.assigned, ConsultState.pooled, ConsultState.in_review):
        if consult.at_risk_due_at and consult.at_risk_at is None:
            candidates.append(consult.at_risk_due_at)
        if consult.respond_due_at and consult.breached_at is None:
            candidates.append(consult.respond_due_at)
    return min(candidates) if candidates else None
