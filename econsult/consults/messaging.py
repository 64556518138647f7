"""Messages in a consult's thread: the GP's messages and replies, and the
specialist's messages, clarification requests (the response clock pauses) and answers
(turnaround recorded at the first answer)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from econsult.consults import attachments as pdfs
from econsult.consults import deadlines, image_intake, states
from econsult.consults.attachments import AttachmentUpload, StoredAttachment
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType as E
from econsult.consults.handback import ensure_held
from econsult.consults.ids import is_uuid
from econsult.consults.image_intake import Upload
from econsult.consults.steps import Step, consult_events, consult_target, step
from econsult.consults.stored_images import StoredImage, add_image_rows
from econsult.consults.views import ConsultSummary, summary_of
from econsult.errors import InvalidInput, NotFound
from econsult.models import Consult, ConsultState, Message, StructuredAnswer, User
from econsult.security.policy import Action, Principal, is_requester, require
from econsult.turnaround.clocks import compute_clocks

S = ConsultState
MAX_PART = 5000
# Each kind of message, and the policy action it needs.
KINDS = {"message": Action.message, "clarification_request": Action.request_clarification,
         "answer": Action.answer, "addendum": Action.answer}
# The state-machine step each kind is, written by the specialist.
_STEP = {"message": "specialist_message", "clarification_request": "request_clarification",
         "answer": "answer", "addendum": "addendum"}


@dataclass(frozen=True, slots=True)
class AnswerParts:
    """A structured answer besides its body: impression, recommendation / plan, when to
    refer or red flags (the safety net), follow-up, and whether a face-to-face
    referral is advised. Empty strings are parts left out."""

    impression: str = ""
    plan: str = ""
    refer_if: str = ""
    follow_up: str = ""
    referral_advised: bool = False

    @property
    def given(self) -> bool:
        return bool(self.impression or self.plan or self.refer_if or self.follow_up
                    or self.referral_advised)

    def cleaned(self) -> AnswerParts:
        parts = {}
        for name in ("impression", "plan", "refer_if", "follow_up"):
            text = getattr(self, name).strip()
            if len(text) > MAX_PART:
                raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is too long "
                                   f"(at most {MAX_PART:,} characters).", field=name)
            parts[name] = text
        return AnswerParts(**parts, referral_advised=self.referral_advised)


async def post_message(
    deps: ConsultDeps,
    user: Principal,
    consult_id: str,
    *,
    body: str,
    kind: str,
    minutes: int | None = None,
    images: list[StoredImage] | None = None,
    parts: AnswerParts | None = None,
    client_addr: str = "",
    attachments: list[StoredAttachment] | None = None,
) -> tuple[ConsultSummary, str]:
    """A message, a clarification request, an answer (with its structured parts, signed
    by the specialist who writes it) or an addendum to the answer.
    Returns (summary, message id)."""
    body = body.strip()
    parts = (parts or AnswerParts()).cleaned()
    if parts.given and kind != "answer":
        raise InvalidInput("Only an answer has an impression, plan, red flags or follow-up.",
                           field="kind")
    if not body and not (kind == "answer" and (parts.impression or parts.plan)):
        raise InvalidInput("Write a message.", field="body")
    if len(body) > 20_000:
        raise InvalidInput("The message is too long (at most 20,000 characters).", field="body")
    images = images or []
    attachments = attachments or []
    if kind not in KINDS:
        raise InvalidInput("kind must be message, clarification_request, answer or addendum.",
                           field="kind")
    if kind == "answer":
        cap = deps.settings.max_answer_minutes
        if minutes is None or not 1 <= minutes <= cap:
            raise InvalidInput(f"Record the minutes you spent (1 to {cap}).", field="minutes")
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
        if kind == "answer":
            await _sign(deps, s, message_id, user.id, parts)
        add_image_rows(s.db, deps, c.id, message_id, user.id, images, s.now)
        pdfs.add_rows(s.db, deps, c.id, message_id, user.id, attachments, s.now)
        if requester:
            await _gp_message(deps, s)
        elif kind == "addendum":
            # Shown under the answer; the state, the clocks and the turnaround stand.
            await s.event(E.addendum, kind=kind)
        else:
            await _specialist_message(deps, s, kind, minutes)
        await s.audit("consult.addendum" if kind == "addendum" else "consult.message",
                      detail=f"kind={kind} images={len(images)}"
                      + (f" attachments={len(attachments)}" if attachments else ""))
    return summary_of(c), message_id


async def _sign(deps: ConsultDeps, s: Step, message_id: str, author_id: int,
                parts: AnswerParts) -> None:
    """Every answer is signed by the named specialist who wrote it, as their profile
    stands now (a later change of credentials does not rewrite a sent answer). A
    structured answer is a letter: it needs the registration number."""
    author = await s.db.get(User, author_id)
    if author is None:  # the session's own user: cannot happen while it is signed in
        raise InvalidInput("Unknown author.", field="body")
    if parts.given and not author.registration.strip():
        raise InvalidInput("Add your registration number (and credentials) on your account "
                           "page before signing a structured answer.", field="registration",
                           code="signatory_incomplete")

    def seal(name: str) -> bytes | None:
        text: str = getattr(parts, name)
        return deps.fields.seal("structured_answers", name, message_id, text) if text else None

    s.db.add(StructuredAnswer(
        message_id=message_id, consult_id=s.consult.id, impression=seal("impression"),
        plan=seal("plan"), refer_if=seal("refer_if"), follow_up=seal("follow_up"),
        referral_advised=parts.referral_advised, signatory_id=author_id,
        signatory_name=author.name, signatory_credentials=author.credentials.strip(),
        signatory_registration=author.registration.strip()))


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
    minutes: int | None, uploads: list[Upload], parts: AnswerParts | None = None,
    client_addr: str = "", attachments: list[AttachmentUpload] | None = None,
) -> tuple[ConsultSummary, str, list[StoredImage], list[StoredAttachment]]:
    """A message as the form sends it: photos (the same labels and checks as at submit)
    and PDFs processed and stored outside the transaction, their blobs removed again if
    the message is not written. Access is decided before any file is processed (the
    step checks again, with the state)."""
    image_intake.check_uploads(uploads)
    pdfs.check_count(attachments or [])
    if uploads or attachments:
        await authorize_message(deps, user, consult_id, kind)
    stored = await image_intake.ingest(deps, uploads) if uploads else []
    try:
        documents = await pdfs.ingest(deps, attachments or [])
    except BaseException:
        await image_intake.discard(deps, stored)
        raise
    try:
        summary, message_id = await post_message(
            deps, user, consult_id, body=body, kind=kind, minutes=minutes, images=stored,
            parts=parts, client_addr=client_addr, attachments=documents)
    except BaseException:
        await image_intake.discard(deps, stored)
        await pdfs.discard(deps, documents)
        raise
    return summary, message_id, stored, documents
