"""Reading consults: one consult's full thread, and what pages show beside lists.

The detail decrypts clinical content, and every such view is written to the audit
log. Lists (pages of them, filters and search) are `econsult.consults.listing`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from econsult.consults import actions, clinical_content
from econsult.consults.attachments import public_of as public_attachment
from econsult.consults.attachments import rows_of as attachment_rows
from econsult.consults.clinical_content import ClinicalContent
from econsult.consults.deps import ConsultDeps
from econsult.consults.ids import is_uuid
from econsult.consults.stored_images import public_image
from econsult.consults.views import (
    AttachmentPublic,
    Clinical,
    ConsultDetail,
    ImagePublic,
    Patient,
    PersonRef,
    ThreadMessage,
    TimelineEvent,
    summary_of,
)
from econsult.errors import NotFound
from econsult.models import (
    Consult,
    ConsultAttachment,
    ConsultEvent,
    ConsultImage,
    Message,
    User,
)
from econsult.security.audit import Actor
from econsult.security.policy import (
    Action,
    Principal,
    may,
    require,
    side,
)


async def last_event_id(deps: ConsultDeps) -> int:
    """Where a page's socket resumes from: nothing committed after render is missed."""
    async with deps.db.read() as db:
        last: int | None = (await db.execute(select(func.max(col(ConsultEvent.id))))).scalar()
    return last or 0


async def names_of(deps: ConsultDeps, ids: set[int | None]) -> dict[int, str]:
    """Display names of the people a page shows beside consults (assignees)."""
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return {}
    async with deps.db.read() as db:
        rows = (await db.execute(select(col(User.id), col(User.name))
                                 .where(col(User.id).in_(wanted)))).all()
    return {int(i or 0): str(n) for i, n in rows}


async def detail(deps: ConsultDeps, user: Principal, consult_id: str,
                 client_addr: str = "") -> ConsultDetail:
    """The whole thread for a GP or specialist allowed to see it (audited), or the
    codes-and-times view for staff."""
    if not is_uuid(consult_id):
        raise NotFound("Consult not found.")
    async with deps.db.read() as db:
        consult = await db.get(Consult, consult_id)
        if consult is None:
            raise NotFound("Consult not found.")
        require(user, Action.view_meta, consult, what="Consult not found.")
        clinical = may(user, Action.view, consult)
        events = list((await db.execute(select(ConsultEvent).where(
            col(ConsultEvent.consult_id) == consult_id).order_by(col(ConsultEvent.id))
        )).scalars())
        messages = list((await db.execute(select(Message).where(
            col(Message.consult_id) == consult_id).order_by(col(Message.created_at))
        )).scalars()) if clinical else []
        images = list((await db.execute(select(ConsultImage).where(
            col(ConsultImage.consult_id) == consult_id).order_by(col(ConsultImage.created_at))
        )).scalars()) if clinical else []
        documents = await attachment_rows(db, consult_id) if clinical else []
        content = (await clinical_content.load(db, deps.fields, consult)) if clinical else None
        people_ids = {consult.gp_id, consult.assigned_to, consult.submitted_by,
                      consult.requested_specialist_id,
                      *(e.actor_id for e in events),
                      *(m.author_id for m in messages)} - {None}
        people = {u.id: u for u in (await db.execute(
            select(User).where(col(User.id).in_(people_ids)))).scalars()}
    out = ConsultDetail(
        summary=summary_of(consult),
        gp=PersonRef(consult.gp_id, _name(people, consult.gp_id)),
        assignee=(PersonRef(consult.assigned_to, _name(people, consult.assigned_to))
                  if consult.assigned_to else None),
        acknowledged_at=_iso(consult.acknowledged_at), answered_at=_iso(consult.answered_at),
        closed_at=_iso(consult.closed_at), outcome=consult.outcome,
        usefulness=consult.usefulness, minutes_spent=consult.minutes_spent,
        events=[TimelineEvent(e.id or 0, e.type, e.actor_id,
                              _name(people, e.actor_id) if e.actor_id else "system",
                              e.at.isoformat(), _safe_data(e.data)) for e in events],
        actions=actions.available(user, consult),
        side=side(user, consult),
        submitted_by=consult.submitted_by,
        sent_by=(PersonRef(consult.submitted_by, _name(people, consult.submitted_by))
                 if consult.submitted_by is not None
                 and consult.submitted_by != consult.gp_id else None),
        requested_specialist=(PersonRef(consult.requested_specialist_id,
                                        _name(people, consult.requested_specialist_id))
                              if consult.requested_specialist_id else None),
    )
    if clinical and content is not None:
        out.clinical = _clinical(deps, consult, messages, images, people, content)
        _add_attachments(deps, out.clinical, documents)
        await deps.audit.record(actor=Actor(user.id, user.email, client_addr),
                                action="consult.view", at=deps.clock.now(),
                                object_type="consult", object_id=consult_id)
    return out


def _clinical(deps: ConsultDeps, consult: Consult, messages: list[Message],
              images: list[ConsultImage], people: dict[int | None, User],
              content: ClinicalContent) -> Clinical:
    open_ = deps.fields.open
    details = (json.loads(open_("consults", "clinical_details", consult.id,
                                consult.clinical_details)) if consult.clinical_details else {})
    by_message: dict[str | None, list[ImagePublic]] = {}
    for image in images:
        by_message.setdefault(image.message_id, []).append(public_image(image))
    return Clinical(
        patient=Patient(
            name=open_("consults", "patient_name", consult.id, consult.patient_name),
            dob=open_("consults", "patient_dob", consult.id, consult.patient_dob),
            health_number=open_("consults", "patient_health_number", consult.id,
                                consult.patient_health_number),
        ),
        question=open_("consults", "question", consult.id, consult.question),
        details=details,
        close_comment=(open_("consults", "close_comment", consult.id, consult.close_comment)
                       if consult.close_comment else None),
        images=by_message.get(None, []),
        messages=[_message(m, people, open_("messages", "body", m.id, m.body),
                           by_message.get(m.id, []), content) for m in messages],
        reason=consult.reason, checklist=content.checklist, patient_sex=content.patient_sex,
        medications=content.medications, allergies=content.allergies,
        referral=content.referral,
    )


def _add_attachments(deps: ConsultDeps, clinical: Clinical,
                     rows: list[ConsultAttachment]) -> None:
    """PDFs sent with the consult, and with each message, in the order they came."""
    by_message: dict[str | None, list[AttachmentPublic]] = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(public_attachment(deps, row))
    clinical.attachments = by_message.get(None, [])
    for message in clinical.messages:
        message.attachments = by_message.get(message.id, [])
def _message(m: Message, people: dict[int | None, User], body: str, images: list[ImagePublic],
             content: ClinicalContent) -> ThreadMessage:
    out = ThreadMessage(m.id, m.kind, m.author_id, _name(people, m.author_id),
                        m.created_at.isoformat(), m.minutes, body, images)
    parts = content.answers.get(m.id)
    if parts is not None:
        out.impression, out.plan, out.refer_if = parts.impression, parts.plan, parts.refer_if
        out.follow_up = parts.follow_up
        out.referral_advised = parts.referral_advised if parts.structured else None
        out.signatory = parts.signatory
    return out


def _name(people: dict[int | None, User], user_id: int | None) -> str:
    user = people.get(user_id)
    return user.name if user else ""


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


_SAFE_EVENT_KEYS = frozenset({"reason", "tier", "previous_specialty", "converted_to", "kind",
                              "escalated", "urgency", "specialty",
                              "to", "routing",  # reassigned, handed_back
                              "named", "decided_by"})  # named specialist, referral


def _safe_data(raw: str) -> dict[str, Any]:
    data = json.loads(raw or "{}")
    return {k: v for k, v in data.items() if k in _SAFE_EVENT_KEYS}
