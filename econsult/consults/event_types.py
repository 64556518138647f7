"""Every kind of consult event, and the payload each carries.

An event row is the record of one step: its type, actor and UTC time, plus a small
payload of codes (never clinical text). The payload's shape per type is declared here
and checked when the row is written, so the timeline, the live queue and the
turnaround figures can rely on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypedDict


class EventType(StrEnum):
    submitted = "submitted"
    assigned = "assigned"
    pooled = "pooled"
    acknowledged = "acknowledged"
    escalated = "escalated"
    at_risk = "at_risk"
    breached = "breached"
    specialist_message = "specialist_message"
    clarification_requested = "clarification_requested"
    answered = "answered"
    addendum = "addendum"  # the specialist added to the answer (no change of state)
    gp_message = "gp_message"
    gp_replied = "gp_replied"
    follow_up = "follow_up"
    rerouted = "rerouted"
    returned = "returned"
    converted = "converted"
    closed = "closed"
    cancelled = "cancelled"
    reassigned = "reassigned"
    handed_back = "handed_back"


class NoPayload(TypedDict):
    pass


class _SubmittedBase(TypedDict):
    urgency: str
    specialty: str


class Submitted(_SubmittedBase, total=False):
    # The GP the consult is for, when a delegate sent it (the event's actor).
    on_behalf_of: int


class _RoutedBase(TypedDict):
    reason: str
    tier: str | None


class Routed(_RoutedBase, total=False):
    """assigned / pooled: why the routing decided so, and the rota tier it used; when
    the GP named a specialist, what became of that (routing.decision.NamedOutcome)."""

    named: str


class Escalated(TypedDict):
    escalated: bool
    reason: str


class Pooled(TypedDict, total=False):
    reason: str
    tier: str | None
    named: str


class MessageEvent(TypedDict):
    """A message in the thread; which kind (message, clarification_request, answer)."""

    kind: str


class Rerouted(TypedDict):
    previous_specialty: str
    reason: str


class _ConvertedBase(TypedDict):
    converted_to: str


class Converted(_ConvertedBase, total=False):
    # For a referral: gp_choice, or specialist_advice (the GP accepted an answer's advice).
    decided_by: str


class Reassigned(TypedDict):
    """Staff moved the consult: their reason (a note for the people on the consult,
    never clinical), and whether it went to a named specialist or to the pool."""

    reason: str
    to: str  # "specialist" | "pool"


class HandedBack(TypedDict):
    """Its holder could no longer act on it, so routing ran again (next on call, else
    the pool): why (a code of econsult.consults.handback.Why) and what routing said."""

    reason: str
    routing: str
    tier: str | None


PAYLOADS: Mapping[EventType, type] = {
    EventType.submitted: Submitted,
    EventType.assigned: Routed,
    EventType.pooled: Pooled,
    EventType.acknowledged: NoPayload,
    EventType.escalated: Escalated,
    EventType.at_risk: NoPayload,
    EventType.breached: NoPayload,
    EventType.specialist_message: MessageEvent,
    EventType.clarification_requested: MessageEvent,
    EventType.answered: MessageEvent,
    EventType.addendum: MessageEvent,
    EventType.gp_message: MessageEvent,
    EventType.gp_replied: MessageEvent,
    EventType.follow_up: MessageEvent,
    EventType.rerouted: Rerouted,
    EventType.returned: NoPayload,
    EventType.converted: Converted,
    EventType.closed: NoPayload,
    EventType.cancelled: NoPayload,
    EventType.reassigned: Reassigned,
    EventType.handed_back: HandedBack,
}


def check_payload(type_: EventType, data: Mapping[str, object]) -> None:
    """Raise TypeError unless `data` has exactly the keys `type_`'s payload declares."""
    shape = PAYLOADS[type_]
    required: frozenset[str] = shape.__required_keys__  # type: ignore[attr-defined]
    optional: frozenset[str] = shape.__optional_keys__  # type: ignore[attr-defined]
    keys = set(data)
    if not required <= keys or not keys <= required | optional:
        raise TypeError(f"{type_.value} event payload must have keys {sorted(required)} "
                        f"(optional {sorted(optional)}), got {sorted(keys)}")
