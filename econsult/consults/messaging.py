"""Messages in a consult's thread: the GP's messages and replies, and the
specialist's messages, clarification requests (the response clock pauses) and answers
(turnaround recorded at the first answer)."""

from __future__ import annotations

import uuid

from econsult.consults import deadlines, image_intake
from econsult.consults.image_intake import Upload
from econsult.consults.services import Services
from econsult.consults.steps import Step, consult_events, consult_target, step
from econsult.consults.stored_images import StoredImage, add_image_rows
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import InvalidInput
from econsult.models import ConsultState, Message
from econsult.security.policy import Action, Principal
from econsult.turnaround.clocks import compute_clocks

S = ConsultState
MAX_MINUTES = 60


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
        action, name = Action.message, "gp_message"
    elif kind == "message":
        action, name = Action.message, "specialist_message"
    elif kind == "clarification_request":
        action, name = Action.request_clarification, "request_clarification"
    elif kind == "answer":
        action, name = Action.answer, "answer"
        if minutes is None or minutes < 1:
            raise InvalidInput("Record the minutes you spent (1 to 60).", field="minutes")
        minutes = min(minutes, MAX_MINUTES)
    else:
        raise InvalidInput("kind must be message, clarification_request or answer.", field="kind")
    message_id = str(uuid.uuid4())
    async with step(svc, user, consult_id, action, name, client_addr) as s:
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
        target = await consult_target(s.db, c)
        deadlines.recompute(c, target, await consult_events(s.db, c.id), svc.calendar)
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
        target, events = await consult_target(s.db, c), await consult_events(s.db, c.id)
        deadlines.recompute(c, target, events, svc.calendar)
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
    target = await consult_target(s.db, c)
    calendar = svc.calendar if target.business_time else None
    events = deadlines.clock_events(await consult_events(s.db, c.id))
    clocks = compute_clocks(events, business=calendar)
    c.seconds_to_answer = clocks.specialist_seconds_to_answer
    if c.target_seconds is not None and c.seconds_to_answer is not None:
        c.within_target = c.seconds_to_answer <= c.target_seconds


async def post_message_with_photos(
    svc: Services, user: Principal, consult_id: str, *, body: str, kind: str,
    minutes: int | None, uploads: list[Upload], client_addr: str = "",
) -> tuple[ConsultSummary, str, list[StoredImage]]:
    """A message as the form sends it: photos processed and stored outside the
    transaction, their blobs removed again if the message is not written."""
    stored = await image_intake.ingest(svc, uploads) if uploads else []
    try:
        summary, message_id = await post_message(
            svc, user, consult_id, body=body, kind=kind, minutes=minutes, images=stored,
            client_addr=client_addr)
    except BaseException:
        await image_intake.discard(svc, stored)
        raise
    return summary, message_id, stored
