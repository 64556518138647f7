"""The consult state machine: which step is legal from which state.

Policy (econsult.security.policy) decides *who* may take a step; this table decides
*when*. An illegal step raises Conflict with a message that says why, before
anything is written.
"""

from __future__ import annotations

from econsult.errors import Conflict
from econsult.models import ConsultState as S

# step -> states it may start from
ALLOWED_FROM: dict[str, frozenset[S]] = {
    "acknowledge": frozenset({S.assigned, S.pooled}),
    "specialist_message": frozenset({S.in_review, S.awaiting_gp}),
    "request_clarification": frozenset({S.in_review}),
    "answer": frozenset({S.in_review, S.awaiting_gp}),
    "gp_message": frozenset({S.assigned, S.pooled, S.in_review, S.awaiting_gp, S.answered}),
    "reroute": frozenset({S.assigned, S.pooled, S.in_review}),
    "return_to_pool": frozenset({S.assigned, S.in_review}),
    "convert": frozenset({S.assigned, S.pooled, S.in_review, S.awaiting_gp, S.answered}),
    "close": frozenset({S.answered}),
    # An addendum adds to the advice given; the consult stays as it was.
    "addendum": frozenset({S.answered, S.closed}),
    "cancel": frozenset({S.assigned, S.pooled, S.in_review, S.awaiting_gp}),
    "reassign": frozenset({S.assigned, S.pooled, S.in_review, S.awaiting_gp}),
}

_WHY: dict[str, str] = {
    "acknowledge": "Only a consult waiting for a specialist can be acknowledged.",
    "specialist_message": "Acknowledge the consult before writing to the GP.",
    "request_clarification": "Clarification can be asked only while reviewing the consult.",
    "answer": "Acknowledge the consult before answering it.",
    "gp_message": "This consult is finished; start a new consult instead.",
    "reroute": "A consult can be rerouted only before it is answered.",
    "return_to_pool": "Only a consult you hold and have not answered can go back to the pool.",
    "convert": "A finished consult cannot be converted.",
    "addendum": "An addendum adds to an answer: answer the consult first.",
    "close": "A consult can be closed once it has been answered; before that, cancel it.",
    "cancel": "An answered or finished consult cannot be cancelled; close it instead.",
    "reassign": "Only an open consult can be reassigned.",
}


def allowed(step: str, state: str) -> bool:
    return S(state) in ALLOWED_FROM[step]


def require(step: str, state: str) -> None:
    if not allowed(step, state):
        raise Conflict(
            f"{_WHY[step]} (The consult is {state.replace('_', ' ')}.)", code="illegal_transition"
        )
