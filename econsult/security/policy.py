"""Who may do what: the one place access decisions are made.

Handlers and services ask `may(user, action, consult)`; nothing else decides. The
policy answers "who"; whether the consult's state allows the action is the
lifecycle's business (409), and an object the user may not see answers 404, so an
id cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Action(StrEnum):
    # on a consult
    view = "view"  # clinical content: question, messages, images
    view_meta = "view_meta"  # timestamps and codes only (staff dashboards)
    acknowledge = "acknowledge"
    message = "message"
    request_clarification = "request_clarification"
    answer = "answer"
    reroute = "reroute"
    return_to_pool = "return_to_pool"
    convert = "convert"
    close = "close"
    cancel = "cancel"
    # not tied to one consult
    submit_consult = "submit_consult"
    work_queue = "work_queue"
    manage_rota = "manage_rota"
    manage_targets = "manage_targets"
    view_turnaround = "view_turnaround"
    export_turnaround = "export_turnaround"
    review_audit = "review_audit"
    manage_users = "manage_users"
    manage_keys = "manage_keys"


CONSULT_ACTIONS = frozenset(
    {
        Action.view, Action.view_meta, Action.acknowledge, Action.message,
        Action.request_clarification, Action.answer, Action.reroute,
        Action.return_to_pool, Action.convert, Action.close, Action.cancel,
    }
)  # fmt: skip

_GP_ON_OWN = frozenset({Action.view, Action.view_meta, Action.message, Action.convert,
                        Action.close, Action.cancel})
_SPECIALIST_ON_ROUTED = frozenset({Action.view, Action.view_meta, Action.acknowledge,
                                   Action.message, Action.request_clarification,
                                   Action.answer, Action.reroute, Action.return_to_pool})
# A pooled consult can be looked at and claimed by anyone holding the specialty;
# working it starts with acknowledging, which assigns it to them.
_SPECIALIST_ON_POOLED = frozenset({Action.view, Action.view_meta, Action.acknowledge,
                                   Action.reroute})

_GLOBAL: dict[str, frozenset[Action]] = {
    "gp": frozenset({Action.submit_consult}),
    "specialist": frozenset({Action.work_queue}),
    "staff": frozenset({Action.manage_rota, Action.manage_targets, Action.view_turnaround,
                        Action.export_turnaround, Action.review_audit}),
    "admin": frozenset({Action.manage_users, Action.manage_keys, Action.review_audit}),
}


class PolicyUser(Protocol):
    @property
    def id(self) -> int | None: ...
    @property
    def role(self) -> str: ...
    @property
    def active(self) -> bool: ...


class PolicyConsult(Protocol):
    @property
    def gp_id(self) -> int: ...
    @property
    def specialty(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def assigned_to(self) -> int | None: ...


@dataclass(frozen=True)
class Principal:
    """The user as policy sees them: id, role, and the specialties they hold."""

    id: int
    role: str
    active: bool = True
    specialties: frozenset[str] = frozenset()
    email: str = ""
    name: str = ""


def may(user: Principal, action: Action, consult: PolicyConsult | None = None) -> bool:
    if not user.active:
        return False
    if action not in CONSULT_ACTIONS:
        return action in _GLOBAL.get(user.role, frozenset())
    if consult is None:
        return False
    if user.role == "gp":
        return consult.gp_id == user.id and action in _GP_ON_OWN
    if user.role == "specialist":
        if consult.assigned_to == user.id:
            return action in _SPECIALIST_ON_ROUTED
        if consult.state == "pooled" and consult.specialty in user.specialties:
            return action in _SPECIALIST_ON_POOLED
        return False
    if user.role == "staff":
        # Staff run the program from timestamps and codes; clinical text is never theirs.
        return action == Action.view_meta
    return False

