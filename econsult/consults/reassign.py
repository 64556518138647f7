"""Staff reassigning a consult: to a named specialist of its specialty, or back to the
pool, with a reason. One transaction (`steps.step`): the move, a `reassigned` event
naming the staff member and their reason, and the audit row; both specialists' queues
hear of it after the commit. The response clock is left exactly as it was."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import format_local
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType as E
from econsult.consults.handback import absent_now, holder_of, mark_assigned, place
from econsult.consults.steps import consult_target, step
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import Conflict, InvalidInput
from econsult.models import User
from econsult.security.policy import Action, Principal, may_hold

MAX_REASON = 300


def _reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise InvalidInput("Say why the consult is being reassigned.", field="reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"The reason is too long (at most {MAX_REASON} characters).",
                           field="reason")
    return reason


async def reassign(
    deps: ConsultDeps, user: Principal, consult_id: str, *, specialist: str | None,
    pool: bool, reason: str, client_addr: str = "",
) -> ConsultSummary:
    """`specialist` is an email; `pool` sends it to the specialty's pool instead."""
    reason = _reason(reason)
    if pool == bool(specialist):
        raise InvalidInput("Choose a specialist, or the pool: one of the two.",
                           field="specialist")
    async with step(deps, user, consult_id, Action.reassign, "reassign", client_addr) as s:
        c = s.consult
        target = await consult_target(s.db, c)
        if pool:
            if c.assigned_to is None:
                raise Conflict("Nobody holds this consult: it is already with the pool.",
                               code="already_pooled")
            place(deps, c, None, now=s.now, target=target)
        else:
            holder = await _holder(s.db, str(specialist))
            if not may_hold(holder, c):
                raise InvalidInput(f"{holder.name} cannot take {c.specialty} consults "
                                   "(disabled, or not of this specialty).", field="specialist")
            if c.assigned_to == holder.id:
                raise Conflict(f"{holder.name} already holds this consult.",
                               code="already_assigned")
            away = await absent_now(s.db, holder.id, s.now)
            if away is not None:
                raise InvalidInput(f"{holder.name} is away until {_local(deps, away.ends_at)}.",
                                   field="specialist")
            place(deps, c, holder.id, now=s.now, target=target)
            await mark_assigned(s.db, holder.id, s.now)
        await s.event(E.reassigned, reason=reason, to="pool" if pool else "specialist")
        await s.audit("consult.reassign",
                      detail=f"from={s.previous.assigned_to} to={c.assigned_to or 'pool'} "
                             f"state={c.state}")
    return summary_of(c)


async def _holder(db: AsyncSession, email: str) -> Principal:
    user_id = (await db.execute(select(col(User.id)).where(
        col(User.email) == email.strip().lower()))).scalar_one_or_none()
    holder = await holder_of(db, user_id) if user_id is not None else None
    if holder is None:
        raise InvalidInput(f"No specialist has the email {email!r}.", field="specialist")
    return holder


def _local(deps: ConsultDeps, at: datetime) -> str:
    return format_local(at, deps.settings.timezone, with_zone=True)
