"""Which rows a FHIR search matches: one SQL statement per resource type, over the
consults the caller may see (the policy's `visible_consults`), with the search's
conditions, sorted by (last updated, id) and cut at a keyset cursor.

Every statement yields rows of (ts, rid, cid, kind): the resource's lastUpdated, its id,
its consult's id (None for people) and what to build. A type whose resources live in
several tables (a thread's header and messages; photos, PDFs and the letter; the
close-out survey, checklist and structured answers) is a UNION ALL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, false, literal, or_, select, union_all
from sqlalchemy import cast as sql_cast
from sqlmodel import col

from econsult.consults.ids import is_uuid
from econsult.interop.fhir import documents, questionnaires
from econsult.interop.fhir.codes import CS_ATTACHMENT, CS_MESSAGE_KIND, CS_STATE, URN
from econsult.interop.fhir.query import SearchQuery, reference_id, token
from econsult.models import (
    Consult,
    ConsultAttachment,
    ConsultImage,
    Message,
    StructuredAnswer,
    User,
)
from econsult.security.policy import Principal, visible_consults

# Task.status / ServiceRequest.status -> our states (codes.TASK_STATUS turned round).
TASK_STATES = {"requested": ("assigned", "pooled"), "in-progress": ("in_review",),
               "on-hold": ("awaiting_gp",), "completed": ("answered", "closed"),
               "cancelled": ("cancelled",)}
SR_STATES = {"active": ("assigned", "pooled", "in_review", "awaiting_gp", "answered"),
             "completed": ("closed",), "revoked": ("cancelled",)}
_MESSAGE_KINDS = {"message": ("message",), "clarification-request": ("clarification_request",),
                  "answer": ("answer",), "reroute": ("reroute",),
                  # A reply is a GP's message; which ones answer a request is worked
                  # out from the thread, so the search narrows to GP messages and
                  # the service keeps the replies.
                  "clarification-response": ("message",)}
_PATIENT_REFS = ("patient", "subject")
_REQUEST_REFS = ("based-on", "focus", "related")


class Conditions:
    """The WHERE parts of one search, split by the table they apply to."""

    def __init__(self) -> None:
        self.consult: list[ColumnElement[bool]] = []
        self.message: list[ColumnElement[bool]] = []
        self.image: list[ColumnElement[bool]] = []
        self.letter: list[ColumnElement[bool]] = []
        self.attachment: list[ColumnElement[bool]] = []
        self.closeout: list[ColumnElement[bool]] = []
        self.checklist: list[ColumnElement[bool]] = []
        self.answer: list[ColumnElement[bool]] = []
        self.header: list[ColumnElement[bool]] = []
        self.user: list[ColumnElement[bool]] = []
        self.empty = False  # a condition no row can meet (e.g. an id of another type)

    def never(self) -> None:
        self.empty = True


def conditions(query: SearchQuery, patient_ids: Iterable[str] | None) -> Conditions:
    """`patient_ids`: the consults whose patient matched `patient.identifier` (or
    Patient?identifier=), already found by the caller; None when not searched by it."""
    where = Conditions()
    rt = query.resource_type
    if patient_ids is not None:
        where.consult.append(col(Consult.id).in_(sorted(set(patient_ids))))
    for name, raw in query.params:
        values = [v for v in raw.split(",") if v]
        if not values:
            continue
        if name in ("patient.identifier",) or (rt == "Patient" and name == "identifier"):
            continue  # handled through patient_ids
        if name == "_id":
            _ids(where, rt, values)
        elif name in _PATIENT_REFS:
            where.consult.append(col(Consult.id).in_(
                [reference_id(v, "Patient", name) for v in values]))
        elif name in _REQUEST_REFS:
            where.consult.append(col(Consult.id).in_(
                [reference_id(v, "ServiceRequest", name) for v in values]))
        elif name == "part-of":
            where.consult.append(col(Consult.id).in_(
                [reference_id(v, "Communication", name) for v in values]))
            where.header.append(false())  # the header is part of nothing
        elif name == "identifier":
            where.consult.append(col(Consult.id).in_(
                [code.removeprefix("urn:uuid:") for system, code in map(token, values)
                 if system in (None, "", URN)]))
        elif name == "status":
            table = TASK_STATES if rt == "Task" else SR_STATES
            where.consult.append(col(Consult.state).in_(
                [s for v in values for s in table.get(v, ())]))
        elif name == "business-status":
            where.consult.append(col(Consult.state).in_(
                [code for system, code in map(token, values) if system in (None, CS_STATE)]))
        elif name == "requester":
            where.consult.append(col(Consult.gp_id).in_(_user_ids(values, name)))
        elif name in ("owner", "performer"):
            where.consult.append(col(Consult.assigned_to).in_(_user_ids(values, name)))
        elif name == "category":
            _category(where, rt, values)
        elif name == "practitioner":
            where.user.append(col(User.id).in_(_user_ids(values, name, "Practitioner")))
    return where


def _ids(where: Conditions, rt: str, values: list[str]) -> None:
    if rt in ("Practitioner", "PractitionerRole"):
        where.user.append(col(User.id).in_([int(v) for v in values if v.isdigit()]))
    elif rt == "QuestionnaireResponse":
        where.closeout.append(col(Consult.id).in_(
            _stripped(values, questionnaires.CLOSEOUT_PREFIX)))
        where.checklist.append(col(Consult.id).in_(
            _stripped(values, questionnaires.CHECKLIST_PREFIX)))
        where.answer.append(col(StructuredAnswer.message_id).in_(
            _stripped(values, questionnaires.ANSWER_PREFIX)))
    elif rt == "Communication":
        ids = [v for v in values if is_uuid(v)]
        where.message.append(col(Message.id).in_(ids))
        where.header.append(col(Consult.id).in_(ids))
    elif rt == "DocumentReference":
        where.image.append(col(ConsultImage.id).in_(values))
        where.letter.append(col(Consult.id).in_(_stripped(values, documents.LETTER_PREFIX)))
        where.attachment.append(col(ConsultAttachment.id).in_(
            _stripped(values, documents.ATTACHMENT_PREFIX)))
    else:
        where.consult.append(col(Consult.id).in_(values))


def _stripped(values: list[str], prefix: str) -> list[str]:
    return [v.removeprefix(prefix) for v in values if v.startswith(prefix)]


def _category(where: Conditions, rt: str, values: list[str]) -> None:
    codes = [code for system, code in map(token, values)
             if system in (None, CS_MESSAGE_KIND if rt == "Communication" else CS_ATTACHMENT)]
    if rt == "Communication":
        where.message.append(col(Message.kind).in_(
            [k for code in codes for k in _MESSAGE_KINDS.get(code, ())]))
        if "thread" not in codes:
            where.header.append(false())
    else:
        if "photo" not in codes:
            where.image.append(false())
        if "letter" not in codes:
            where.letter.append(false())
        if "document" not in codes:
            where.attachment.append(false())


def _user_ids(values: list[str], name: str, resource_type: str = "PractitionerRole"
              ) -> list[int]:
    ids = [reference_id(v, resource_type, name) for v in values]
    return [int(i) for i in ids if i.isdigit() and len(i) < 18]


def _row(t: Any, rid: Any, cid: Any, kind: str) -> tuple[Any, ...]:
    return (t.label("ts"), rid.label("rid"), cid.label("cid"), literal(kind).label("kind"))


def _consults(user: Principal, where: Conditions, t: Any, kind: str,
              *extra: ColumnElement[bool], rid: Any = None) -> Select[Any]:
    return select(*_row(t, rid if rid is not None else col(Consult.id), col(Consult.id), kind)
                  ).where(visible_consults(user), *where.consult, *extra)


def statement(user: Principal, rt: str, where: Conditions) -> Select[Any] | None:
    """The rows of `rt` the search matches, unsorted and uncut; None: none can."""
    if where.empty:
        return None
    builder = _BUILDERS[rt]
    return builder(user, where)


def _service_requests(user: Principal, where: Conditions) -> Select[Any]:
    return _consults(user, where, col(Consult.updated_at), "ServiceRequest")


def _tasks(user: Principal, where: Conditions) -> Select[Any]:
    return _consults(user, where, col(Consult.updated_at), "Task")


def _patients(user: Principal, where: Conditions) -> Select[Any]:
    return _consults(user, where, col(Consult.submitted_at), "Patient")


def _questionnaire_responses(user: Principal, where: Conditions) -> Select[Any]:
    closeouts = _consults(user, where, col(Consult.closed_at), "closeout",
                          col(Consult.outcome).is_not(None), col(Consult.closed_at).is_not(None),
                          *where.closeout,
                          rid=literal(questionnaires.CLOSEOUT_PREFIX) + col(Consult.id))
    # The builder drops one whose checklist version is missing (versions are never deleted).
    checklists = _consults(user, where, col(Consult.submitted_at), "checklist",
                           col(Consult.reason).is_not(None),
                           col(Consult.checklist_version).is_not(None), *where.checklist,
                           rid=literal(questionnaires.CHECKLIST_PREFIX) + col(Consult.id))
    # Structured: some part written (an empty part is stored as NULL), as
    # questionnaires.is_structured says.
    answers = (select(*_row(col(Message.created_at),
                            literal(questionnaires.ANSWER_PREFIX) + col(Message.id),
                            col(Message.consult_id), "answer"))
               .join(StructuredAnswer, col(StructuredAnswer.message_id) == col(Message.id))
               .join(Consult, col(Consult.id) == col(Message.consult_id))
               .where(visible_consults(user), *where.consult, *where.answer,
                      or_(col(StructuredAnswer.impression).is_not(None),
                          col(StructuredAnswer.plan).is_not(None),
                          col(StructuredAnswer.refer_if).is_not(None),
                          col(StructuredAnswer.follow_up).is_not(None),
                          col(StructuredAnswer.referral_advised).is_(True))))
    union = union_all(closeouts, checklists, answers).subquery()
    return select(union.c.ts, union.c.rid, union.c.cid, union.c.kind)


def _communications(user: Principal, where: Conditions) -> Select[Any]:
    headers = _consults(user, where, col(Consult.updated_at), "header", *where.header)
    messages = (select(*_row(col(Message.created_at), col(Message.id), col(Message.consult_id),
                             "message"))
                .join(Consult, col(Consult.id) == col(Message.consult_id))
                .where(visible_consults(user), *where.consult, *where.message))
    union = union_all(headers, messages).subquery()
    return select(union.c.ts, union.c.rid, union.c.cid, union.c.kind)


def _documents(user: Principal, where: Conditions) -> Select[Any]:
    photos = (select(*_row(col(ConsultImage.created_at), col(ConsultImage.id),
                           col(ConsultImage.consult_id), "photo"))
              .join(Consult, col(Consult.id) == col(ConsultImage.consult_id))
              .where(visible_consults(user), *where.consult, *where.image))
    letters = _consults(user, where, col(Consult.updated_at), "letter",
                        col(Consult.answered_at).is_not(None), col(Consult.state) != "cancelled",
                        *where.letter, rid=literal(documents.LETTER_PREFIX) + col(Consult.id))
    pdfs = (select(*_row(col(ConsultAttachment.created_at),
                         literal(documents.ATTACHMENT_PREFIX) + col(ConsultAttachment.id),
                         col(ConsultAttachment.consult_id), "pdf"))
            .join(Consult, col(Consult.id) == col(ConsultAttachment.consult_id))
            .where(visible_consults(user), *where.consult, *where.attachment))
    union = union_all(photos, pdfs, letters).subquery()
    return select(union.c.ts, union.c.rid, union.c.cid, union.c.kind)


def _people(kind: str) -> Callable[[Principal, Conditions], Select[Any]]:
    def build(user: Principal, where: Conditions) -> Select[Any]:
        visible = visible_consults(user)
        on_consults = or_(
            col(User.id).in_(select(col(Consult.assigned_to)).where(visible)),
            col(User.id).in_(select(col(Message.author_id))
                             .join(Consult, col(Consult.id) == col(Message.consult_id))
                             .where(visible)),
        )
        # The GPs a client acts for (active ones: the policy's acts_for).
        bound = col(User.id).in_(sorted(user.acts_for)) if user.acts_for else false()
        return select(*_row(col(User.created_at), sql_cast(col(User.id), String),
                            literal(None, String), kind)
                      ).where(and_(or_(bound, on_consults), *where.user))
    return build


_BUILDERS: dict[str, Callable[[Principal, Conditions], Select[Any]]] = {
    "ServiceRequest": _service_requests,
    "Task": _tasks,
    "Patient": _patients,
    "QuestionnaireResponse": _questionnaire_responses,
    "Communication": _communications,
    "DocumentReference": _documents,
    "Practitioner": _people("Practitioner"),
    "PractitionerRole": _people("PractitionerRole"),
}
