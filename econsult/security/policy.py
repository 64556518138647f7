"""Who may do what: the one place access decisions are made.

Services ask `require(user, action, consult)` (or `may` when they only need to know);
lists filter with `consult_filter`; live events go to `audience` / `event_audience`.
Nothing else decides. The policy answers "who"; whether the consult's state allows the
action now is the state machine's business (409). An object the user may not see
answers 404, exactly like an unknown one, so an id cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    false,
    or_,
    select,
    true,
)
from sqlmodel import col

from econsult.errors import NotFound
from econsult.models import Consult, ConsultState, Role, UserSpecialty
from econsult.security.groups import STAFF_GROUP, pool_group, user_group


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
    reassign = "reassign"  # staff move a consult to a named specialist or the pool
    # not tied to one consult
    submit_consult = "submit_consult"
    check_images = "check_images"  # the photo check before sending: nothing is stored
    work_queue = "work_queue"
    manage_rota = "manage_rota"
    manage_targets = "manage_targets"
    view_turnaround = "view_turnaround"
    export_turnaround = "export_turnaround"
    review_audit = "review_audit"
    manage_users = "manage_users"
    manage_keys = "manage_keys"
    view_worklist = "view_worklist"  # open consults that need a person (staff)
    own_account = "own_account"  # one's own sessions and password (/account)
    own_absence = "own_absence"  # one's own out-of-office (specialists)
    own_calendar = "own_calendar"  # one's own on-call calendar feed (specialists)


CONSULT_ACTIONS = frozenset(
    {
        Action.view, Action.view_meta, Action.acknowledge, Action.message,
        Action.request_clarification, Action.answer, Action.reroute,
        Action.return_to_pool, Action.convert, Action.close, Action.cancel,
        Action.reassign,
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

# What every active account may do, whatever its role.
_EVERYONE = frozenset({Action.own_account})
# Staff on any consult: the codes and times, and moving it between people.
_STAFF_ON_ANY = frozenset({Action.view_meta, Action.reassign})
_SPECIALIST_OWN = frozenset({Action.own_absence, Action.own_calendar})

_GLOBAL: dict[Role, frozenset[Action]] = {
    Role.gp: frozenset({Action.submit_consult, Action.check_images}),
    Role.specialist: frozenset({Action.work_queue, Action.check_images}) | _SPECIALIST_OWN,
    Role.staff: frozenset({Action.manage_rota, Action.manage_targets, Action.view_turnaround,
                           Action.export_turnaround, Action.review_audit,
                           Action.view_worklist}),
    Role.admin: frozenset({Action.manage_users, Action.manage_keys, Action.review_audit}),
}


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
    role: Role
    active: bool = True
    specialties: frozenset[str] = frozenset()
    email: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        # Built from rows and tests alike: the role is always the enum, never a string.
        object.__setattr__(self, "role", Role(self.role))


def may(user: Principal, action: Action, consult: PolicyConsult | None = None) -> bool:
    if not user.active:
        return False
    if action not in CONSULT_ACTIONS:
        return action in _EVERYONE or action in _GLOBAL.get(user.role, frozenset())
    if consult is None:
        return False
    if user.role is Role.gp:
        return consult.gp_id == user.id and action in _GP_ON_OWN
    if user.role is Role.specialist:
        if consult.assigned_to == user.id:
            return action in _SPECIALIST_ON_ROUTED
        if consult.state == ConsultState.pooled and consult.specialty in user.specialties:
            return action in _SPECIALIST_ON_POOLED
        return False
    if user.role is Role.staff:
        # Staff run the program from timestamps and codes; clinical text is never theirs.
        return action in _STAFF_ON_ANY
    return False


class Holder(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def role(self) -> Role: ...
    @property
    def active(self) -> bool: ...
    @property
    def specialties(self) -> frozenset[str]: ...


def may_hold(holder: Holder, consult: PolicyConsult) -> bool:
    """Whether `holder` may have `consult` assigned to them: an active specialist of its
    specialty. An open consult held by anyone else is stranded, and goes back to
    routing (econsult.consults.handback)."""
    return (holder.active and Role(holder.role) is Role.specialist
            and consult.specialty in holder.specialties)


def is_requester(user: Principal, consult: PolicyConsult) -> bool:
    """Whether the user writes on the requesting side of the consult's thread (the GP
    who asked), as opposed to the specialist side."""
    return user.active and user.role is Role.gp and consult.gp_id == user.id


def side(user: Principal, consult: PolicyConsult) -> str | None:
    """Which side of the consult's thread the user is on: "requester" (who asked),
    "specialist" (who answers, or may take it from the pool), or None (staff, who
    watch it, and everyone else)."""
    if is_requester(user, consult):
        return "requester"
    if user.role is Role.specialist and may(user, Action.view, consult):
        return "specialist"
    return None


def require(user: Principal, action: Action, consult: PolicyConsult | None = None, *,
            what: str = "Not found.") -> None:
    """Refuse with the same 404 an unknown id gets, so ids cannot be probed."""
    if not may(user, action, consult):
        raise NotFound(what)


# --- lists --------------------------------------------------------------------------


def consult_filter(role: Role, viewer_id: int | None = None) -> ColumnElement[bool]:
    """The SQL condition for the consults a user of `role` may see at least the codes
    and times of (`may(view_meta)`). Without `viewer_id` the user's id is left as the
    bind parameter ``viewer_id``, so a list statement can be built once per role and
    cached (hot paths); `visible_consults` binds it."""
    viewer: BindParameter[int] = bindparam("viewer_id", viewer_id, type_=Integer)
    if role is Role.gp:
        return col(Consult.gp_id) == viewer
    if role is Role.specialist:
        return or_(
            col(Consult.assigned_to) == viewer,
            # The pool of the specialist's specialties (a subquery rather than a list
            # parameter, so the statement's SQL is compiled once, not per request).
            and_(col(Consult.state) == ConsultState.pooled.value,
                 col(Consult.specialty).in_(
                     select(col(UserSpecialty.specialty))
                     .where(col(UserSpecialty.user_id) == viewer))),
        )
    if role is Role.staff:
        return true()
    return false()


def visible_consults(user: Principal) -> ColumnElement[bool]:
    """`consult_filter` for this user, ready to use in a where clause."""
    if not user.active:
        return false()
    return consult_filter(user.role, user.id)


def sees_patient_names(user: Principal) -> bool:
    """Lists show the patient's name only to the clinicians on the consult."""
    return user.active and user.role in (Role.gp, Role.specialist)


# --- live events --------------------------------------------------------------------


def audience(user: Principal) -> frozenset[str]:
    """The event groups a user's socket hears. Everyone hears their own user group;
    specialists the pools of their specialties; staff every consult's codes and times.
    Admins get only their user group, which no consult event names: their socket
    carries heartbeats and nothing clinical, by design."""
    groups = {user_group(user.id)}
    if user.role is Role.specialist:
        groups.update(pool_group(slug) for slug in user.specialties)
    elif user.role is Role.staff:
        groups.add(STAFF_GROUP)
    return frozenset(groups)


def event_audience(consult: PolicyConsult, previous: PolicyConsult | None) -> frozenset[str]:
    """Who hears of an event on `consult`: everyone who may see it now, and everyone
    who could see it before the step (so their queue hears it left)."""
    groups = {STAFF_GROUP}
    for c in (consult, previous) if previous is not None else (consult,):
        groups.add(user_group(c.gp_id))
        if c.assigned_to:
            groups.add(user_group(c.assigned_to))
        if c.state == ConsultState.pooled:
            groups.add(pool_group(c.specialty))
    return frozenset(groups)

