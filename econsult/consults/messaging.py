"""Messages in a consult's thread: the GP's messages and replies, and the
specialist's messages, clarification requests (the response clock pauses) and answers
(turnaround recorded at the first answer)."""

from __future__ import annotations

import uuid

from econsult.consults import deadlines, image_intake, states
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType as E
from econsult.consults.handback import ensure_held
from econsult.consults.ids import is_uuid
from econsult.consults.image_intake import Upload
from econsult.consults.steps import Step, consult_events, consult_target, step
from econsult.consults.stored_images import StoredImage, add_image_rows
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import InvalidInput, NotFound
from econsult.models import Consult, ConsultState, Message
from econsult.security.policy import Action, Principal, is_requester, require
from econsult.turnaround.clocks import compute_clocks

S = ConsultState
MAX_MINUTES = 60
# Each kind of message, and the policy action it needs.
KINDS = {"message": Action.message, "clarification_request": Action.request_clarification,
         "answer": Action.answer}
# The state-machine step each kind is, written by the specialist.
_STEP = {"message": "specialist_message", "clarification_request": "request_clarification",
         "answer": "answer"}


async def post_message(
    deps: ConsultDeps,
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
    if kind not in KINDS:
        raise InvalidInput("kind must be message, clarification_request or answer.", field="kind")
    if kind == "answer":
        if minutes is None or minutes < 1:
            raise InvalidInput("Record the minutes you spent (1 to 60).", field="minutes")
        minutes = min(minutes, MAX_MINUTES)
    message_id = str(uuid.uuid4())
    # Anyone on the thread may write; which kinds, and what it does to the consult,
    # depends on their side of it (decided by policy once the consult is loaded).
    async with step(deps, user, consult_id, KINDS[kind], None, client_addr) as s:
        c = s.consult
        requester = is_requester(user, c)
        if requester and kind != "message":
            raise InvalidInput(
                "Only the specialist can ask for clarification or answer.", field="kind"
            )
        states.require(_STEP[kind] if not requester else "gp_message", c.state)
        s.db.add(
            Message(
                id=message_id,
                consult_id=c.id,
                author_id=user.id,
                kind=kind,
                body=deps.fields.seal("messages", "body", message_id, body),
                minutes=minutes if kind == "answer" else None,
                created_at=s.now,
            )
        )
        await s.db.flush()
        add_image_rows(s.db, deps, c.id, message_id, user.id, images, s.now)
        if requester:
            await _gp_message(deps, s)
        else:
            await _specialist_message(deps, s, kind, minutes)
        await s.audit("consult.message", detail=f"kind={kind} images={len(images)}")
    return summary_of(c), message_id


async def _gp_message(deps: ConsultDeps, s: Step) -> None:
    c = s.consult
    if c.state == S.awaiting_gp:
        c.state = S.in_review
        if c.paused_since is not None:
            c.paused_seconds += (s.now - c.paused_since).total_seconds()
        c.paused_since = None
        await s.event(E.gp_replied, kind="message")
        target = await consult_target(s.db, c)
        deadlines.recompute(c, target, await consult_events(s.db, c.id), deps.calendar)
        await ensure_held(deps, s.db, c, now=s.now, recorder=s.recorder)
    elif c.state == S.answered:
        # A follow-up reopens the thread; the first answer's turnaround stands, and
        # follow-ups carry no target window of their own.
        c.state = S.in_review
        await s.event(E.follow_up, kind="message")
        await ensure_held(deps, s.db, c, now=s.now, recorder=s.recorder)
    else:
        await s.event(E.gp_message, kind="message")


async def _specialist_message(deps: ConsultDeps, s: Step, kind: str, minutes: int | None) -> None:
    c = s.consult
    if kind in ("clarification_request", "answer", "message"):
        c.first_response_at = c.first_response_at or s.now
    if kind == "message":
        await s.event(E.specialist_message, kind="message")
    elif kind == "clarification_request":
        c.state = S.awaiting_gp
        c.paused_since = s.now
        await s.event(E.clarification_requested, kind=kind)
        target, events = await consult_target(s.db, c), await consult_events(s.db, c.id)
        deadlines.recompute(c, target, events, deps.calendar)
    else:
        if c.paused_since is not None:
            c.paused_seconds += (s.now - c.paused_since).total_seconds()
            c.paused_since = None
        c.state = S.answered
        c.minutes_spent = (c.minutes_spent or 0) + (minutes or 0)
        first_answer = c.answered_at is None
        await s.event(E.answered, kind=kind)
        if first_answer:
            c.answered_at = s.now
            await _record_turnaround(deps, s)
        deadlines.stop_clocks(c)
        c.respond_due_at = None


async def _record_turnaround(deps: ConsultDeps, s: Step) -> None:
    c = s.consult
    target = await consult_target(s.db, c)
    calendar = deps.calendar if target.business_time else None
    events = deadlines.clock_events(await consult_events(s.db, c.id))
    clocks = compute_clocks(events, business=calendar)
    c.seconds_to_answer = clocks.specialist_seconds_to_answer
    if c.target_seconds is not None and c.seconds_to_answer is not None:
        c.within_target = c.seconds_to_answer <= c.target_seconds


async def authorize_message(deps: ConsultDeps, user: Principal, consult_id: str,
                            kind: str = "message") -> None:
    """Whether the caller may write on this consult's thread at all, decided before the
    request's body is read (NotFound for an unknown consult or someone else's): a
    stranger must not get as far as making the image workers decode a photo."""
    async with deps.db.read() as db:
        consult = await db.get(Consult, consult_id) if is_uuid(consult_id) else None
        if consult is None:
            raise NotFound("Consult not found.")
        require(user, KINDS.get(kind, Action.message), consult, what="Consult not found.")


async def post_message_with_photos(
    deps: ConsultDeps, user: Principal, consult_id: str, *, body: str, kind: str,
    minutes: int | None, uploads: list[Upload], client_addr: str = "",
) -> tuple[ConsultSummary, str, list[StoredImage]]:
    """A message as the form sends it: photos processed and stored outside the
    transaction, their blobs removed again if the message is not written. Access is
    decided before any photo is processed (the step checks again, with the state)."""
    if uploads:
        await authorize_message(deps, user, consult_id, kind)
    stored = await image_intake.ingest(deps, uploads) if uploads else []
    try:
        summary, message_id = await post_message(
            deps, user, consult_id, body=body, kind=kind, minutes=minutes, images=stored,
            client_addr=client_addr)
    except BaseException:
        await image_intake.discard(deps, stored)
        raise
    return summary, message_id, stored
