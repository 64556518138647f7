"""A consult as the interop faces need it: the row, its clinical fields decrypted, its
thread, photos, PDF attachments, workup checklist (with the schema of the version it was
sent with), structured answers, timeline and the people on it, as plain data.

The FHIR mapping and the letter are pure functions over this record. Loading it is the
only place they touch the database; the policy decides before anything is decrypted,
and the caller writes the audit row for the view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.ids import is_uuid
from econsult.errors import NotFound
from econsult.models import (
    Checklist,
    Consult,
    ConsultAttachment,
    ConsultEvent,
    ConsultImage,
    Message,
    Role,
    Specialty,
    StructuredAnswer,
    User,
    UserSpecialty,
)
from econsult.security.fields import FieldCipher
from econsult.security.policy import Action, Principal, require


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    email: str
    role: Role
    active: bool
    created_at: datetime
    specialties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordImage:
    id: str
    consult_id: str
    message_id: str | None
    label: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    uploaded_by: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RecordAttachment:
    """A PDF sent with the consult (message_id None) or with a message."""

    id: str
    consult_id: str
    message_id: str | None
    filename: str
    pages: int
    size_bytes: int
    uploaded_by: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RecordChecklist:
    """The workup checklist as the GP answered it: the JSON Schema of the version the
    consult was sent with, and the (decrypted, validated) answers."""

    reason: str
    version: int
    title: str
    schema: Mapping[str, Any]
    answers: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class RecordAnswerParts:
    """The structured parts of an answer message and who signed it."""

    message_id: str
    impression: str
    plan: str
    refer_if: str
    follow_up: str
    referral_advised: bool
    signatory_id: int
    signatory_name: str


@dataclass(frozen=True, slots=True)
class RecordMessage:
    id: str
    kind: str
    author_id: int
    created_at: datetime
    body: str
    images: tuple[RecordImage, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordEvent:
    id: int
    type: str
    actor_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ConsultRecord:
    consult: Consult
    patient_name: str
    patient_dob: str
    health_number: str
    question: str
    details: Mapping[str, str]
    close_comment: str | None
    specialty_name: str
    images: tuple[RecordImage, ...]  # sent with the question
    messages: tuple[RecordMessage, ...]
    events: tuple[RecordEvent, ...]
    people: Mapping[int, Person] = field(default_factory=dict)
    patient_sex: str | None = None
    checklist: RecordChecklist | None = None
    answer_parts: Mapping[str, RecordAnswerParts] = field(default_factory=dict)  # by message
    attachments: tuple[RecordAttachment, ...] = ()  # PDFs, the consult's and its messages'

    @property
    def id(self) -> str:
        return self.consult.id

    def person(self, user_id: int | None) -> Person | None:
        return self.people.get(user_id) if user_id is not None else None

    def all_images(self) -> list[RecordImage]:
        return [*self.images, *(i for m in self.messages for i in m.images)]


async def load_one(deps: ConsultDeps, user: Principal, consult_id: str) -> ConsultRecord:
    """One consult the user may view (clinical content), or NotFound."""
    if not is_uuid(consult_id):
        raise NotFound("Consult not found.")
    async with deps.db.read() as db:
        consult = await db.get(Consult, consult_id)
        if consult is None:
            raise NotFound("Consult not found.")
        require(user, Action.view, consult, what="Consult not found.")
        return (await load_records(db, deps.fields, [consult]))[0]


async def load_records(db: AsyncSession, fields: FieldCipher,
                       consults: Sequence[Consult]) -> list[ConsultRecord]:
    """Records of consults the caller has already been allowed to view, in order, with
    a fixed number of queries however many there are."""
    if not consults:
        return []
    ids = [c.id for c in consults]
    messages = list((await db.execute(
        select(Message).where(col(Message.consult_id).in_(ids))
        .order_by(col(Message.created_at), col(Message.id)))).scalars())
    images = list((await db.execute(
        select(ConsultImage).where(col(ConsultImage.consult_id).in_(ids))
        .order_by(col(ConsultImage.created_at), col(ConsultImage.id)))).scalars())
    events = list((await db.execute(
        select(ConsultEvent).where(col(ConsultEvent.consult_id).in_(ids))
        .order_by(col(ConsultEvent.id)))).scalars())
    parts = list((await db.execute(
        select(StructuredAnswer).where(col(StructuredAnswer.consult_id).in_(ids))
        .order_by(col(StructuredAnswer.message_id)))).scalars())
    pdfs = list((await db.execute(
        select(ConsultAttachment).where(col(ConsultAttachment.consult_id).in_(ids))
        .order_by(col(ConsultAttachment.created_at), col(ConsultAttachment.position),
                  col(ConsultAttachment.id)))).scalars())
    schemas = await _checklists(db, consults)
    people_ids = ({c.gp_id for c in consults} | {c.assigned_to for c in consults if c.assigned_to}
                  | {m.author_id for m in messages} | {e.actor_id for e in events if e.actor_id})
    people = await load_people(db, people_ids)
    names = dict((await db.execute(select(col(Specialty.slug), col(Specialty.name)).where(
        col(Specialty.slug).in_({c.specialty for c in consults})))).all())
    by_message: dict[str | None, list[RecordImage]] = {}
    for row in images:
        by_message.setdefault(row.message_id, []).append(_image(row))
    open_ = fields.open
    parts_of: dict[str, dict[str, RecordAnswerParts]] = {}
    for p in parts:
        parts_of.setdefault(p.consult_id, {})[p.message_id] = _parts(fields, p)
    records = []
    for c in consults:
        details = (json.loads(open_("consults", "clinical_details", c.id, c.clinical_details))
                   if c.clinical_details else {})
        records.append(ConsultRecord(
            consult=c,
            patient_name=open_("consults", "patient_name", c.id, c.patient_name),
            patient_dob=open_("consults", "patient_dob", c.id, c.patient_dob),
            health_number=open_("consults", "patient_health_number", c.id,
                                c.patient_health_number),
            question=open_("consults", "question", c.id, c.question),
            details={str(k): str(v) for k, v in details.items()},
            close_comment=fields.open_optional("consults", "close_comment", c.id,
                                               c.close_comment),
            specialty_name=str(names.get(c.specialty, c.specialty)),
            images=tuple(i for i in by_message.get(None, []) if i.consult_id == c.id),
            messages=tuple(
                RecordMessage(m.id, m.kind, m.author_id, m.created_at,
                              open_("messages", "body", m.id, m.body),
                              tuple(by_message.get(m.id, [])))
                for m in messages if m.consult_id == c.id),
            events=tuple(RecordEvent(e.id or 0, e.type, e.actor_id, e.at)
                         for e in events if e.consult_id == c.id),
            people=people,
            patient_sex=fields.open_optional("consults", "patient_sex", c.id, c.patient_sex),
            checklist=_checklist(fields, c, schemas),
            answer_parts=parts_of.get(c.id, {}),
            attachments=tuple(
                RecordAttachment(a.id, a.consult_id, a.message_id,
                                 open_("consult_attachments", "filename", a.id, a.filename),
                                 a.pages, a.size_bytes, a.uploaded_by, a.created_at)
                for a in pdfs if a.consult_id == c.id),
        ))
    return records


_Key = tuple[str, str, int]


async def _checklists(db: AsyncSession, consults: Sequence[Consult]) -> dict[_Key, Checklist]:
    """The checklist versions the consults were sent with, in one query."""
    keys = sorted({(c.specialty, c.reason, c.checklist_version) for c in consults
                   if c.reason and c.checklist_version is not None})
    if not keys:
        return {}
    rows = (await db.execute(select(Checklist).where(or_(*(
        and_(col(Checklist.specialty) == s, col(Checklist.reason) == r,
             col(Checklist.version) == v) for s, r, v in keys))))).scalars()
    return {(row.specialty, row.reason, row.version): row for row in rows}


def _checklist(fields: FieldCipher, c: Consult,
               schemas: Mapping[_Key, Checklist]) -> RecordChecklist | None:
    if not c.reason or c.checklist_version is None:
        return None
    row = schemas.get((c.specialty, c.reason, c.checklist_version))
    if row is None:
        return None
    raw = fields.open_optional("consults", "checklist_answers", c.id, c.checklist_answers)
    answers = json.loads(raw) if raw else {}
    return RecordChecklist(row.reason, row.version, row.title, json.loads(row.document),
                           answers if isinstance(answers, dict) else {})


def _parts(fields: FieldCipher, row: StructuredAnswer) -> RecordAnswerParts:
    def text(name: str) -> str:
        return fields.open_optional("structured_answers", name, row.message_id,
                                    getattr(row, name)) or ""

    return RecordAnswerParts(row.message_id, text("impression"), text("plan"),
                             text("refer_if"), text("follow_up"), row.referral_advised,
                             row.signatory_id, row.signatory_name)


async def load_people(db: AsyncSession, ids: set[int] | set[int | None]) -> dict[int, Person]:
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return {}
    users = list((await db.execute(select(User).where(col(User.id).in_(wanted)))).scalars())
    held: dict[int, list[str]] = {}
    for user_id, slug in (await db.execute(
            select(col(UserSpecialty.user_id), col(UserSpecialty.specialty))
            .where(col(UserSpecialty.user_id).in_(wanted))
            .order_by(col(UserSpecialty.specialty)))).all():
        held.setdefault(int(user_id), []).append(str(slug))
    return {u.id or 0: person_of(u, held.get(u.id or 0, [])) for u in users}


def person_of(user: User, specialties: Sequence[str] = ()) -> Person:
    return Person(user.id or 0, user.name, user.email, Role(user.role), user.active,
                  user.created_at, tuple(specialties))


def _image(row: ConsultImage) -> RecordImage:
    return RecordImage(row.id, row.consult_id, row.message_id, row.label, row.content_type,
                       row.width, row.height, row.size_bytes, row.uploaded_by, row.created_at)

