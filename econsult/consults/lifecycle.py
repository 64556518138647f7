"""The steps of a consult that move it between people and states: acknowledge,
reroute, return to the pool, convert, close, cancel. Each runs in `steps.step`: one
transaction with its event and audit rows, events published after commit. Messages
are in `messaging`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines
from econsult.consults.routing_io import load_specialty, route, targets_of
from econsult.consults.services import Services
from econsult.consults.steps import consult_events, consult_target, step
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import Conflict, InvalidInput
from econsult.models import Consult, ConsultState, Message, User
from econsult.routing.decision import DecisionKind
from econsult.routing.targets import Urgency, urgencies_for
from econsult.security.policy import Action, Principal

S = ConsultState
OUTCOMES = ("referral_avoided", "referral_still_needed", "referral_now_planned", "other")
CONVERSIONS = ("urgent_callback", "referral")


async def acknowledge(
    svc: Services, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(svc, user, consult_id, Action.acknowledge, "acknowledge", client_addr) as s:
        s.consult.state = S.in_review
        s.consult.assigned_to = user.id  # claiming from the pool makes it theirs
        s.consult.ack_due_at = None
        s.consult.escalation_tried = "[]"
        s.consult.acknowledged_at = s.consult.acknowledged_at or s.now
        await s.event("acknowledged")
        await s.audit("consult.acknowledge")
    return summary_of(s.consult)


async def reroute(
    svc: Services,
    user: Principal,
    consult_id: str,
    *,
    specialty: str,
    reason: str,
    client_addr: str = "",
) -> ConsultSummary:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the consult should go elsewhere.", field="reason")
    if len(reason) > 2000:
        raise InvalidInput("The reason is too long (at most 2,000 characters).", field="reason")
    async with step(svc, user, consult_id, Action.reroute, "reroute", client_addr) as s:
        c = s.consult
        if specialty == c.specialty:
            raise Conflict("The consult is already with that specialty.", code="same_specialty")
        new = await load_specialty(s.db, specialty)
        if Urgency(c.urgency) not in urgencies_for(new.slug):
            raise InvalidInput(
                f"{new.name} does not take {c.urgency.replace('_', '-')} "
                "consults; ask the GP to convert it.",
                field="specialty",
            )
        decision = await route(
            s.db,
            specialty=new,
            urgency=c.urgency,
            now=s.now,
            tz=svc.settings.timezone,
            exclude=frozenset({user.id}),
        )
        note_id = str(uuid.uuid4())
        s.db.add(
            Message(
                id=note_id,
                consult_id=c.id,
                author_id=user.id,
                kind="reroute",
                body=svc.fields.seal("messages", "body", note_id, reason),
                created_at=s.now,
            )
        )
        c.specialty = new.slug
        c.reroutes += 1
        _apply_decision(c, decision.kind is DecisionKind.ASSIGN, decision.specialist_id)
        target = targets_of(new)[Urgency(c.urgency)]
        # The clock is not reset: the GP has been waiting since submission.
        c.target_seconds = deadlines.target_seconds(
            target.respond_within, svc.calendar if target.business_time else None
        )
        deadlines.recompute(c, target, await consult_events(s.db, c.id), svc.calendar)
        c.ack_due_at = (
            deadlines.ack_deadline(s.now, target, svc.calendar) if c.state == S.assigned else None
        )
        if c.assigned_to is not None:
            await _mark_assigned(s.db, c.assigned_to, s.now)
        await s.event("rerouted", previous_specialty=s.previous.specialty, reason=decision.reason)
        await s.audit("consult.reroute", detail=f"to={new.slug}")
    return summary_of(s.consult)


def _apply_decision(consult: Consult, assigned: bool, specialist_id: int | None) -> None:
    consult.state = S.assigned if assigned else S.pooled
    consult.assigned_to = specialist_id if assigned else None
    consult.escalation_tried = "[]"


async def _mark_assigned(db: AsyncSession, user_id: int, now: datetime) -> None:
    await db.execute(update(User).where(col(User.id) == user_id).values(last_assigned_at=now))


async def return_to_pool(
    svc: Services, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(
        svc, user, consult_id, Action.return_to_pool, "return_to_pool", client_addr
    ) as s:
        s.consult.state = S.pooled
        s.consult.assigned_to = None
        s.consult.ack_due_at = None
        await s.event("returned")
        await s.audit("consult.return")
    return summary_of(s.consult)


async def convert(
    svc: Services, user: Principal, consult_id: str, *, to: str, client_addr: str = ""
) -> ConsultSummary:
    if to not in CONVERSIONS:
        raise InvalidInput("Convert to urgent_callback or referral.", field="to")
    async with step(svc, user, consult_id, Action.convert, "convert", client_addr) as s:
        c = s.consult
        if c.converted_to == to:
            raise Conflict(
                f"The consult is already converted to {to.replace('_', ' ')}.",
                code="already_converted",
            )
        if to == "urgent_callback":
            if c.urgency == Urgency.URGENT:
                raise Conflict("The consult is already urgent.", code="already_urgent")
            if c.state == S.answered:
                raise Conflict(
                    "The consult has been answered; start an urgent consult instead.",
                    code="illegal_transition",
                )
            c.urgency = Urgency.URGENT.value
            target = await consult_target(s.db, c)
            # The call-back window runs from the request, not from the original submission.
            c.respond_due_at = s.now + target.respond_within
            c.at_risk_due_at = s.now + target.respond_within * deadlines.AT_RISK_FRACTION
            c.at_risk_at = c.breached_at = None
            c.target_seconds = target.respond_within.total_seconds()
            if c.state == S.assigned:
                c.ack_due_at = s.now + target.acknowledge_within
        c.converted_to = to
        await s.event("converted", converted_to=to)
        await s.audit("consult.convert", detail=f"to={to}")
    return summary_of(s.consult)


async def close(
    svc: Services,
    user: Principal,
    consult_id: str,
    *,
    outcome: str,
    usefulness: object,
    comment: str = "",
    client_addr: str = "",
) -> ConsultSummary:
    if outcome not in OUTCOMES:
        raise InvalidInput(f"Outcome must be one of: {', '.join(OUTCOMES)}.", field="outcome")
    if isinstance(usefulness, bool) or not isinstance(usefulness, int | str):
        raise InvalidInput("Usefulness must be a whole number from 1 to 5.", field="usefulness")
    try:
        score = int(usefulness)
    except ValueError:
        raise InvalidInput(
            "Usefulness must be a whole number from 1 to 5.", field="usefulness"
        ) from None
    if not 1 <= score <= 5:
        raise InvalidInput("Usefulness must be a whole number from 1 to 5.", field="usefulness")
    comment = comment.strip()
    if len(comment) > 2000:
        raise InvalidInput("The comment is too long (at most 2,000 characters).", field="comment")
    async with step(svc, user, consult_id, Action.close, "close", client_addr) as s:
        c = s.consult
        c.state = S.closed
        c.closed_at = s.now
        c.outcome, c.usefulness = outcome, score
        c.close_comment = (
            svc.fields.seal("consults", "close_comment", c.id, comment) if comment else None
        )
        deadlines.stop_clocks(c)
        c.respond_due_at = None
        await s.event("closed")
        await s.audit("consult.close", detail=f"outcome={outcome}")
    return summary_of(s.consult)


async def cancel(
    svc: Services, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(svc, user, consult_id, Action.cancel, "cancel", client_addr) as s:
        c = s.consult
        c.state = S.cancelled
        c.cancelled_at = s.now
        deadlines.stop_clocks(c)
        c.respond_due_at = None
        await s.event("cancelled")
        await s.audit("consult.cancel")
    return summary_of(s.consult)
