"""What the caller may do to a consult now: who may (policy) and when (state machine),
as the list of step names a page shows buttons for. Pages render from this list;
they never re-derive roles and states themselves."""

from __future__ import annotations

from econsult.consults import states
from econsult.models import Consult, ConsultState
from econsult.routing.targets import Urgency
from econsult.security.policy import Action, Principal, is_requester, may

# (step shown to the caller, policy action, state-machine step)
_TABLE: tuple[tuple[str, Action, str], ...] = (
    ("acknowledge", Action.acknowledge, "acknowledge"),
    ("specialist_message", Action.message, "specialist_message"),
    ("request_clarification", Action.request_clarification, "request_clarification"),
    ("answer", Action.answer, "answer"),
    ("addendum", Action.answer, "addendum"),  # who may answer may add to the answer
    ("gp_message", Action.message, "gp_message"),
    ("reroute", Action.reroute, "reroute"),
    ("return_to_pool", Action.return_to_pool, "return_to_pool"),
    ("convert_urgent_callback", Action.convert, "convert"),
    ("convert_referral", Action.convert, "convert"),
    ("close", Action.close, "close"),
    ("cancel", Action.cancel, "cancel"),
    ("reassign", Action.reassign, "reassign"),  # staff: /worklist
)


def conversion_refused(consult: Consult, to: str) -> str | None:
    """Why `consult` cannot be converted to `to` now (None: it can)."""
    if consult.converted_to == to:
        return f"The consult is already converted to {to.replace('_', ' ')}."
    if to == "urgent_callback":
        if consult.urgency == Urgency.URGENT:
            return "The consult is already urgent."
        if consult.state == ConsultState.answered:
            return "The consult has been answered; start an urgent consult instead."
    return None


def available(user: Principal, consult: Consult) -> list[str]:
    requester = is_requester(user, consult)
    found = []
    for name, action, step in _TABLE:
        if not may(user, action, consult) or not states.allowed(step, consult.state):
            continue
        if name == "gp_message" and not requester:
            continue
        if name == "specialist_message" and requester:
            continue
        if name.startswith("convert_") and conversion_refused(consult, name[8:]):
            continue
        found.append(name)
    return found
