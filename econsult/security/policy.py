"""Who may do what: the one place access decisions are made.

Services ask `require(user, action, consult)` (or `may` when they only need to know);
lists filter with `consult_filter`; live events go to `audience` / `event_audience`.
Nothing else decides. The policy answers "who"; whether the consult's state allows the
action now is the state machine's business (409). An object the user may not see
answers 404, exactly like an unknown one, so an id cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

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

from econsult.errors import NotFound, PermissionDenied
from econsult.models import Consult, ConsultState, DelegateLink, Role, UserSpecialty
from econsult.security.groups import STAFF_GROUP, delegates_group, pool_group, user_group
from econsult.security.scopes import GrantedScopes, Operation


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
    manage_checklists = "manage_checklists"  # edit workup checklists (staff)
    own_templates = "own_templates"  # one's own answer templates (specialists)
    start_draft = "start_draft"  # begin a consult that is saved as it is typed
    # on a draft (a consult not yet sent): may_draft / require_draft
    view_draft = "view_draft"
    edit_draft = "edit_draft"  # its fields and photos
    send_draft = "send_draft"
    discard_draft = "discard_draft"


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
# Clinic staff read and reply on their GPs' consults; the clinical decisions (close with
# the outcome survey, convert, withdraw) stay with the GP.
_DELEGATE_ON_GPS = frozenset({Action.view, Action.view_meta, Action.message})

# What every active account may do, whatever its role.
_EVERYONE = frozenset({Action.own_account})
# Staff on any consult: the codes and times, and moving it between people.
_STAFF_ON_ANY = frozenset({Action.view_meta, Action.reassign})
_SPECIALIST_OWN = frozenset({Action.own_absence, Action.own_calendar, Action.own_templates})

_GLOBAL: dict[Role, frozenset[Action]] = {
    Role.gp: frozenset({Action.submit_consult, Action.check_images, Action.start_draft}),
    Role.specialist: frozenset({Action.work_queue, Action.check_images}) | _SPECIALIST_OWN,
    Role.staff: frozenset({Action.manage_rota, Action.manage_targets, Action.view_turnaround,
                           Action.export_turnaround, Action.review_audit,
                           Action.view_worklist, Action.manage_checklists}),
    Role.admin: frozenset({Action.manage_users, Action.manage_keys, Action.review_audit}),
    Role.delegate: frozenset({Action.submit_consult, Action.check_images,
                              Action.start_draft}),
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
    """The user as policy sees them: id, role, the specialties they hold, and the GPs
    they act for.

    `acts_for` is the ids of the GPs whose consults this principal works on behalf of:
    a delegate's links (DelegateLink, loaded with the session). It is the one field for
    "on behalf of a GP", meant to be reused by principals that are not users (an API
    client bound to GPs); only roles whose rules read it (today `delegate`) are given
    anything by it, so a stray value on a GP or a specialist grants nothing."""

    id: int
    role: Role
    active: bool = True
    specialties: frozenset[str] = frozenset()
    email: str = ""
    name: str = ""
    # The GPs this principal works for: a delegate's linked GPs, or the GPs an API client
    # (SMART Backend Services) is bound to. Only the rules for those two read it.
    acts_for: frozenset[int] = frozenset()
    # An API client acts within its token's scopes; `id` is then the GP it acts for in
    # this request, or 0.
    client_id: str | None = None
    scopes: GrantedScopes | None = None

    def __post_init__(self) -> None:
        # Built from rows and tests alike: the role is always the enum, never a string.
        object.__setattr__(self, "role", Role(self.role))


def may(user: Principal, action: Action, consult: PolicyConsult | None = None) -> bool:
    if not user.active:
        return False
    if user.client_id is not None:
        return _client_may(user, action, consult)
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
    if user.role is Role.delegate:
        return consult.gp_id in user.acts_for and action in _DELEGATE_ON_GPS
    return False


def submits_for(user: Principal, gp_id: int) -> bool:
    """Whether the user may send a consult whose responsible clinician is GP `gp_id`:
    a GP for themselves, a delegate for the GPs they are linked to."""
    if not may(user, Action.submit_consult):
        return False
    if user.role is Role.gp:
        return gp_id == user.id
    if user.role is Role.delegate:
        return gp_id in user.acts_for
    return False


# An API client reads its GPs' consults and submits new ones for them; every step in
# the thread is a person's.
_CLIENT_ON_BOUND = frozenset({Action.view, Action.view_meta})


def _client_may(user: Principal, action: Action, consult: PolicyConsult | None) -> bool:
    if consult is None:
        return action is Action.submit_consult and user.id in user.acts_for
    return consult.gp_id in user.acts_for and action in _CLIENT_ON_BOUND


def acting_for(user: Principal, gp_id: int, *, what: str = "Not found.") -> Principal:
    """The API client as the GP it submits for; NotFound unless it is bound to them."""
    if user.client_id is None or gp_id not in user.acts_for or not user.active:
        raise NotFound(what)
    return replace(user, id=gp_id)


def may_use(user: Principal, resource_type: str, op: Operation) -> bool:
    """Whether an API client's token scopes allow `op` on a FHIR resource type."""
    return (user.active and user.client_id is not None and user.scopes is not None
            and user.scopes.permits(resource_type, op))


def require_scope(user: Principal, resource_type: str, op: Operation) -> None:
    """403, not 404: which scopes a token has is no secret of anyone's."""
    if not may_use(user, resource_type, op):
        raise PermissionDenied(f"The access token does not allow {op} on {resource_type}.",
                               code="insufficient_scope")


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
    who asked, or a delegate of that GP relaying for them), as opposed to the
    specialist side."""
    if not user.active:
        return False
    if user.role is Role.gp:
        return consult.gp_id == user.id
    return user.role is Role.delegate and consult.gp_id in user.acts_for


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


# --- drafts -------------------------------------------------------------------------


DRAFT_ACTIONS = frozenset({Action.view_draft, Action.edit_draft, Action.send_draft,
                           Action.discard_draft})


class PolicyDraft(Protocol):
    @property
    def author_id(self) -> int: ...
    @property
    def gp_id(self) -> int | None: ...


def may_draft(user: Principal, action: Action, draft: PolicyDraft) -> bool:
    """A draft is its author's, and the GP's it is for (a delegate may start one for
    a GP; the GP may then read, finish, send or discard it). A delegate keeps their
    draft only while they still act for its GP. Nobody else sees that it exists."""
    if action not in DRAFT_ACTIONS or not user.active or user.client_id is not None:
        return False
    if not may(user, Action.start_draft):
        return False
    if user.role is Role.gp:
        return draft.author_id == user.id or draft.gp_id == user.id
    if user.role is Role.delegate:
        return draft.author_id == user.id and (draft.gp_id is None
                                               or draft.gp_id in user.acts_for)
    return False


def require_draft(user: Principal, action: Action, draft: PolicyDraft | None) -> None:
    """404 for a draft that is unknown or not the user's, alike."""
    if draft is None or not may_draft(user, action, draft):
        raise NotFound("Draft not found.")


def draft_filter(user: Principal, author: Any, gp: Any) -> ColumnElement[bool]:
    """The SQL condition for the drafts `user` may view (`may_draft(view_draft)`), over
    the author and GP columns of the drafts table."""
    if not may(user, Action.start_draft) or user.client_id is not None:
        return false()
    if user.role is Role.gp:
        return or_(author == user.id, gp == user.id)
    if user.role is Role.delegate:
        return and_(author == user.id,
                    or_(gp.is_(None), gp.in_(sorted(user.acts_for)) if user.acts_for
                        else false()))
    return false()


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
    if role is Role.delegate:
        # The consults of the GPs the delegate is linked to (a subquery, as above).
        return col(Consult.gp_id).in_(select(col(DelegateLink.gp_id))
                                      .where(col(DelegateLink.delegate_id) == viewer))
    return false()


def visible_consults(user: Principal) -> ColumnElement[bool]:
    """`consult_filter` for this user, ready to use in a where clause."""
    if not user.active:
        return false()
    if user.client_id is not None:
        return col(Consult.gp_id).in_(sorted(user.acts_for)) if user.acts_for else false()
    return consult_filter(user.role, user.id)


def sees_patient_names(user: Principal) -> bool:
    """Lists show the patient's name only to the clinicians on the consult (and to the
    clinic staff who sent it for the GP)."""
    return user.active and user.role in (Role.gp, Role.specialist, Role.delegate)


# --- live events --------------------------------------------------------------------


def audience(user: Principal) -> frozenset[str]:
    """The event groups a user's socket hears. Everyone hears their own user group;
    specialists the pools of their specialties; staff every consult's codes and times;
    delegates the consults of their GPs (not the GPs' own user groups: whatever else is
    addressed to a GP personally is not theirs).
    Admins get only their user group, which no consult event names: their socket
    carries heartbeats and nothing clinical, by design."""
    groups = {user_group(user.id)}
    if user.role is Role.specialist:
        groups.update(pool_group(slug) for slug in user.specialties)
    elif user.role is Role.staff:
        groups.add(STAFF_GROUP)
    elif user.role is Role.delegate:
        groups.update(delegates_group(gp_id) for gp_id in user.acts_for)
    return frozenset(groups)


def event_audience(consult: PolicyConsult, previous: PolicyConsult | None) -> frozenset[str]:
    """Who hears of an event on `consult`: everyone who may see it now, and everyone
    who could see it before the step (so their queue hears it left)."""
    groups = {STAFF_GROUP}
    for c in (consult, previous) if previous is not None else (consult,):
        groups.add(user_group(c.gp_id))
        groups.add(delegates_group(c.gp_id))
        if c.assigned_to:
            groups.add(user_group(c.assigned_to))
        if c.state == ConsultState.pooled:
            groups.add(pool_group(c.specialty))
    return frozenset(groups)

