"""Every step of a consult after submission. Each function owns one transaction: it
loads the consult, asks the policy who may act and the state machine whether the step
is legal now, writes the change with its event rows and audit row, then publishes the
events after commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines, states
from econsult.consults.events import Recorder, Snapshot
from econsult.consults.ids import is_uuid
from econsult.consults.routing_io import load_specialty, route, targets_of
from econsult.consults.services import Services
from econsult.consults.stored_images import StoredImage, add_image_rows
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import Consult, ConsultEvent, ConsultState, Message, User
from econsult.routing.decision import DecisionKind
from econsult.routing.targets import Target, Urgency, urgencies_for
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may
from econsult.turnaround.clocks import compute_clocks

S = ConsultState
OUTCOMES = ("referral_avoided", "referral_still_needed", "referral_now_planned", "other")
CONVERSIONS = ("urgent_callback", "referral")
MAX_MINUTES = 60


@dataclass
class Step:
    """One transaction on one consult, as the functions below use it."""

    db: AsyncSession
    consult: Consult
    previous: Snapshot
    now: datetime
    recorder: Recorder
    actor: Actor

    async def event(self, type_: str, **data: object) -> ConsultEvent:
        return await self.recorder.add(
            self.db,
            self.consult,
            type_,
            actor_id=self.actor.id,
            at=self.now,
            previous=self.previous,
            **data,
        )

    async def audit(self, action: str, detail: str = "") -> None:
        await audit.append(
            self.db,
            actor=self.actor,
            action=action,
            at=self.now,
            object_type="consult",
            object_id=self.consult.id,
            detail=detail,
        )


@asynccontextmanager
async def _step(
    svc: Services, user: Principal, consult_id: str, action: Action, step: str, client_addr: str
) -> AsyncIterator[Step]:
    recorder = Recorder()
    async with svc.db.write() as db:
        consult = await db.get(Consult, consult_id) if is_uuid(consult_id) else None
        # Unknown and not-yours look the same, so ids cannot be probed.
        if consult is None or not may(user, action, consult):
            raise NotFound("Consult not found.")
        states.require(step, consult.state)
        now = svc.clock.now()
        ctx = Step(
            db,
            consult,
            Snapshot.of(consult),
            now,
            recorder,
            Actor(user.id, user.email, client_addr),
        )
        yield ctx
        consult.updated_at = now
    await svc.publish(recorder.bus_events())
    due = deadlines.next_due(ctx.consult)
    if due is not None:
        svc.wake(due)


async def _events(db: AsyncSession, consult_id: str) -> list[ConsultEvent]:
    return list(
        (
            await db.execute(
                select(ConsultEvent)
                .where(col(ConsultEvent.consult_id) == consult_id)
                .order_by(col(ConsultEvent.id))
            )
        ).scalars()
    )


async def acknowledge(
    svc: Services, user: Principal, consult_id: str, client_addr: str = ""
) -> ConsultSummary:
    async with _step(svc, user, consult_id, Action.acknowledge, "acknowledge", client_addr) as s:
        s.consult.state = S.in_review
        s.consult.assigned_to = user.id  # claiming from the pool makes it theirs
        s.consult.ack_due_at = None
        s.consult.escalation_tried = "[]"
        s.consult.acknowledged_at = s.consult.acknowledged_at or s.now
        await s.event("acknowledged")
        await s.audit("consult.acknowledge")
    return summary_of(s.consult)


async def post_message(
    svc: Services,
    user: Principal,
    consult_id: str,
    *,
    body: str,
    kind: str,
    minutes: int | None = None,
    images: list[StoredImage] | None = None,
    client_addr: str = "",
) -> tuple[ConsultSummary, str]:
    """A message, a clarification request or an answer. Returns (summary, message id)."""
    body = body.strip()
    if not body:
        raise InvalidInput("Write a message.", field="body")
    if len(body) > 20_000:
        raise InvalidInput("The message is too long (at most 20,000 characters).", field="body")
    images = images or []
    if user.role == "gp":
        if kind != "message":
            raise InvalidInput(
                "Only the specialist can ask for clarification or answer.", field="kind"
            )
        action, step = Action.message, "gp_message"
    elif kind == "message":
        action, step = Action.message, "specialist_message"
    elif kind == "clarification_request":
        action, step = Action.request_clarification, "request_clarification"
    elif kind == "answer":
        action, step = Action.answer, "answer"
        if minutes is None or minutes < 1:
            raise InvalidInput("Record the minutes you spent (1 to 60).", field="minutes")
        minutes = min(minutes, MAX_MINUTES)
    else:
        raise InvalidInput("kind must be message, clarification_request or answer.", field="kind")
    message_id = str(uuid.uuid4())
    async with _step(svc, user, consult_id, action, step, client_addr) as s:
        c = s.consult
        s.db.add(
            Message(
                id=message_id,
                consult_id=c.id,
                author_id=user.id,
                kind=kind,
                body=svc.fields.seal("messages", "body", message_id, body),
                minutes=minutes if kind == "answer" else None,
                created_at=s.now,
            )
        )
        await s.db.flush()
        add_image_rows(s.db, svc, c.id, message_id, user.id, images, s.now)
        if user.role == "gp":
            await _gp_message(svc, s)
        else:
            await _specialist_message(svc, s, kind, minutes)
        await s.audit("consult.message", detail=f"kind={kind} images={len(images)}")
    return summary_of(c), message_id


async def _gp_message(svc: Services, s: Step) -> None:
    c = s.consult
    if c.state == S.awaiting_gp:
        c.state = S.in_review
        if c.paused_since is not None:
            c.paused_seconds += (s.now - c.paused_since).total_seconds()
        c.paused_since = None
        await s.event("gp_replied", kind="message")
        target = await _target(s.db, c)
        deadlines.recompute(c, target, await _events(s.db, c.id), svc.calendar)
    elif c.state == S.answered:
        # A follow-up reopens the thread; the first answer's turnaround stands, and
        # follow-ups carry no target window of their own.
        c.state = S.in_review
        await s.event("follow_up", kind="message")
    else:
        await s.event("gp_message", kind="message")


async def _specialist_message(svc: Services, s: Step, kind: str, minutes: int | None) -> None:
    c = s.consult
    if kind in ("clarification_request", "answer", "message"):
        c.first_response_at = c.first_response_at or s.now
    if kind == "message":
        await s.event("specialist_message", kind="message")
    elif kind == "clarification_request":
        c.state = S.awaiting_gp
        c.paused_since = s.now
        await s.event("clarification_requested", kind=kind)
        deadlines.recompute(c, await _target(s.db, c), await _events(s.db, c.id), svc.calendar)
    else:
        if c.paused_since is not None:
            c.paused_seconds += (s.now - c.paused_since).total_seconds()
            c.paused_since = None
        c.state = S.answered
        c.minutes_spent = (c.minutes_spent or 0) + (minutes or 0)
        first_answer = c.answered_at is None
        await s.event("answered", kind=kind)
        if first_answer:
            c.answered_at = s.now
            await _record_turnaround(svc, s)
        deadlines.stop_clocks(c)
        c.respond_due_at = None


async def _record_turnaround(svc: Services, s: Step) -> None:
    c = s.consult
    target = await _target(s.db, c)
    calendar = svc.calendar if target.business_time else None
    clocks = compute_clocks(deadlines.clock_events(await _events(s.db, c.id)), business=calendar)
    c.seconds_to_answer = clocks.specialist_seconds_to_answer
    if c.target_seconds is not None and c.seconds_to_answer is not None:
        c.within_target = c.seconds_to_answer <= c.target_seconds


async def _target(db: AsyncSession, consult: Consult) -> Target:
    return targets_of(await load_specialty(db, consult.specialty))[Urgency(consult.urgency)]


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
    async with _step(svc, user, consult_id, Action.reroute, "reroute", client_addr) as s:
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
        deadlines.recompute(c, target, await _events(s.db, c.id), svc.calendar)
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
    async with _step(
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
    async with _step(svc, user, consult_id, Action.convert, "convert", client_addr) as s:
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
            target = await _target(s.db, c)
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
    async with _step(svc, user, consult_id, Action.close, "close", client_addr) as s:
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
    async with _step(svc, user, consult_id, Action.cancel, "cancel", client_addr) as s:
        c = s.consult
        c.state = S.cancelled
        c.cancelled_at = s.now
        deadlines.stop_clocks(c)
        c.respond_due_at = None
        await s.event("cancelled")
        await s.audit("consult.cancel")
    return summary_of(s.consult)


def tried_of(consult: Consult) -> frozenset[int]:
    return frozenset(int(i) for i in json.loads(consult.escalation_tried or "[]"))
