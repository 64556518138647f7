"""The steps of a consult that move it between people and states: acknowledge,
reroute, return to the pool, convert, close, cancel. Each runs in `steps.step`: one
transaction with its event and audit rows, events published after commit. Messages
are in `messaging`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines
from econsult.consults.actions import conversion_refused
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType as E
from econsult.consults.routing_io import load_specialty, route, targets_of
from econsult.consults.steps import consult_events, consult_target, step
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import Conflict, InvalidInput
from econsult.models import Consult, ConsultState, Message, Referral, StructuredAnswer, User
from econsult.routing.decision import DecisionKind
from econsult.routing.targets import Urgency, urgencies_for
from econsult.security.policy import Action, Principal

S = ConsultState
OUTCOMES = ("referral_avoided", "referral_still_needed", "referral_now_planned", "other")
CONVERSIONS = ("urgent_callback", "referral")


async def acknowledge(
    deps: ConsultDeps, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(deps, user, consult_id, Action.acknowledge, "acknowledge", client_addr) as s:
        s.consult.state = S.in_review
        s.consult.assigned_to = user.id  # claiming from the pool makes it theirs
        s.consult.ack_due_at = None
        s.consult.escalation_tried = "[]"
        s.consult.acknowledged_at = s.consult.acknowledged_at or s.now
        await s.event(E.acknowledged)
        await s.audit("consult.acknowledge")
    return summary_of(s.consult)


async def reroute(
    deps: ConsultDeps,
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
    async with step(deps, user, consult_id, Action.reroute, "reroute", client_addr) as s:
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
            tz=deps.settings.timezone,
            exclude=frozenset({user.id}),
        )
        note_id = str(uuid.uuid4())
        s.db.add(
            Message(
                id=note_id,
                consult_id=c.id,
                author_id=user.id,
                kind="reroute",
                body=deps.fields.seal("messages", "body", note_id, reason),
                created_at=s.now,
            )
        )
        c.specialty = new.slug
        c.reroutes += 1
        _apply_decision(c, decision.kind is DecisionKind.ASSIGN, decision.specialist_id)
        target = targets_of(new)[Urgency(c.urgency)]
        # The clock is not reset: the GP has been waiting since submission.
        c.target_seconds = deadlines.target_seconds(
            target.respond_within, deps.calendar if target.business_time else None
        )
        deadlines.recompute(c, target, await consult_events(s.db, c.id), deps.calendar)
        c.ack_due_at = (
            deadlines.ack_deadline(s.now, target, deps.calendar) if c.state == S.assigned else None
        )
        if c.assigned_to is not None:
            await _mark_assigned(s.db, c.assigned_to, s.now)
        await s.event(E.rerouted, previous_specialty=s.previous.specialty, reason=decision.reason)
        await s.audit("consult.reroute", detail=f"to={new.slug}")
    return summary_of(s.consult)


def _apply_decision(consult: Consult, assigned: bool, specialist_id: int | None) -> None:
    consult.state = S.assigned if assigned else S.pooled
    consult.assigned_to = specialist_id if assigned else None
    consult.escalation_tried = "[]"


async def _mark_assigned(db: AsyncSession, user_id: int, now: datetime) -> None:
    await db.execute(update(User).where(col(User.id) == user_id).values(last_assigned_at=now))


async def return_to_pool(
    deps: ConsultDeps, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(
        deps, user, consult_id, Action.return_to_pool, "return_to_pool", client_addr
    ) as s:
        s.consult.state = S.pooled
        s.consult.assigned_to = None
        s.consult.ack_due_at = None
        await s.event(E.returned)
        await s.audit("consult.return")
    return summary_of(s.consult)


async def convert(
    deps: ConsultDeps, user: Principal, consult_id: str, *, to: str, reason: str = "",
    on_advice: bool | None = None, client_addr: str = "",
) -> ConsultSummary:
    """Urgent call-back, or a referral. A referral needs the GP's reason, keeps the
    consult's request date as the referral date (the patient keeps their place in the
    queue for the clinic) and records who decided: the GP's own choice, or the
    specialist's recommendation (the latest answer advised it) accepted by the GP.
    `on_advice` None: decided by whether the latest answer advised a referral."""
    if to not in CONVERSIONS:
        raise InvalidInput("Convert to urgent_callback or referral.", field="to")
    reason = reason.strip()
    if len(reason) > 2000:
        raise InvalidInput("The reason is too long (at most 2,000 characters).", field="reason")
    async with step(deps, user, consult_id, Action.convert, "convert", client_addr) as s:
        c = s.consult
        if to == "referral" and not reason:  # (after the policy: 404 for anyone else)
            raise InvalidInput("Say why the patient needs a referral.", field="reason")
        refused = conversion_refused(c, to)
        if refused:
            raise Conflict(refused, code="already_converted" if c.converted_to == to
                           else "already_urgent" if c.urgency == Urgency.URGENT
                           else "illegal_transition")
        if to == "urgent_callback":
            c.urgency = Urgency.URGENT.value
            target = await consult_target(s.db, c)
            # The call-back window runs from the request, not from the original submission.
            c.respond_due_at = s.now + target.respond_within
            c.at_risk_due_at = s.now + target.respond_within * target.at_risk_fraction
            c.at_risk_at = c.breached_at = None
            c.target_seconds = target.respond_within.total_seconds()
            if c.state == S.assigned:
                c.ack_due_at = s.now + target.acknowledge_within
        decided: dict[str, str] = {}
        if to == "referral":
            decided["decided_by"] = await _add_referral(deps, s.db, c, user, reason, on_advice,
                                                        s.now)
        c.converted_to = to
        await s.event(E.converted, converted_to=to, **decided)
        await s.audit("consult.convert", detail=" ".join(
            [f"to={to}", *(f"{k}={v}" for k, v in decided.items())]))
    return summary_of(s.consult)


async def _add_referral(deps: ConsultDeps, db: AsyncSession, c: Consult, user: Principal,
                        reason: str, on_advice: bool | None, now: datetime) -> str:
    latest = (await db.execute(
        select(StructuredAnswer).join(Message, col(Message.id) == col(StructuredAnswer.message_id))
        .where(col(StructuredAnswer.consult_id) == c.id)
        .order_by(col(Message.created_at).desc()).limit(1))).scalars().first()
    advised = latest if latest is not None and latest.referral_advised else None
    if on_advice and advised is None:
        raise Conflict("No answer on this consult advises a referral; convert it as your "
                       "own decision.", code="no_referral_advice")
    by_advice = advised is not None and on_advice is not False
    decided_by = "specialist_advice" if by_advice else "gp_choice"
    db.add(Referral(consult_id=c.id, referral_date=c.submitted_at, converted_at=now,
                    decided_by=decided_by, decided_by_id=user.id,
                    advised_by_id=advised.signatory_id if by_advice and advised else None,
                    reason=deps.fields.seal("referrals", "reason", c.id, reason)))
    return decided_by


async def close(
    deps: ConsultDeps,
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
    async with step(deps, user, consult_id, Action.close, "close", client_addr) as s:
        c = s.consult
        c.state = S.closed
        c.closed_at = s.now
        c.outcome, c.usefulness = outcome, score
        c.close_comment = (
            deps.fields.seal("consults", "close_comment", c.id, comment) if comment else None
        )
        deadlines.stop_clocks(c)
        c.respond_due_at = None
        await s.event(E.closed)
        await s.audit("consult.close", detail=f"outcome={outcome}")
    return summary_of(s.consult)


async def cancel(
    deps: ConsultDeps, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with step(deps, user, consult_id, Action.cancel, "cancel", client_addr) as s:
        c = s.consult
        c.state = S.cancelled
        c.cancelled_at = s.now
        deadlines.stop_clocks(c)
        c.respond_due_at = None
        await s.event(E.cancelled)
        await s.audit("consult.cancel")
    return summary_of(s.consult)
