"""Communication: the consult's thread.

Each consult has one header, `Communication/{consult id}` (no payload: it stands for
the thread, as in Medplum's model), and every message is `Communication/{message id}`,
`partOf` the header and `basedOn` the ServiceRequest (how both Canadian guides thread).
category says what a message is; a GP's reply to a clarification request is a
`clarification-response` and, like a follow-up to an answer, points back at what it
answers with `inResponseTo`. Photos sent with a message are `contentReference`s to
their DocumentReferences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from econsult.interop.fhir.codes import (
    CS_MESSAGE_KIND,
    MESSAGE_KINDS,
    coding,
    concept,
    instant,
    meta,
    ref,
)
from econsult.interop.record import ConsultRecord, RecordMessage
from econsult.models import Role

_SPECIALIST_KIND = {"clarification_request": "clarification-request", "answer": "answer",
                    "reroute": "reroute"}
_OPEN_STATES = frozenset({"assigned", "pooled", "in_review", "awaiting_gp", "answered"})


@dataclass(frozen=True, slots=True)
class ThreadEntry:
    message: RecordMessage
    category: str  # a code of CS_MESSAGE_KIND
    from_requester: bool
    in_response_to: str | None


def entries(rec: ConsultRecord) -> list[ThreadEntry]:
    """The thread's messages with what each one is and answers, in order."""
    out: list[ThreadEntry] = []
    clarification: str | None = None
    answer: str | None = None
    for m in rec.messages:
        if _from_requester(rec, m):
            reply_to, category = None, "message"
            if clarification is not None:
                reply_to, category = clarification, "clarification-response"
            elif answer is not None:
                reply_to = answer  # a follow-up question on the advice
            clarification = answer = None
            out.append(ThreadEntry(m, category, True, reply_to))
            continue
        category = _SPECIALIST_KIND.get(m.kind, "message")
        if category == "clarification-request":
            clarification = m.id
        elif category == "answer":
            answer, clarification = m.id, None
        out.append(ThreadEntry(m, category, False, None))
    return out


def answer_ids(rec: ConsultRecord) -> list[str]:
    return [e.message.id for e in entries(rec) if e.category == "answer"]


def header(rec: ConsultRecord) -> dict[str, Any]:
    c = rec.consult
    return {
        "resourceType": "Communication",
        "id": c.id,
        "meta": meta("Communication", c.updated_at),
        "basedOn": [ref("ServiceRequest", c.id)],
        "status": "in-progress" if c.state in _OPEN_STATES else "completed",
        "category": [_category("thread")],
        "subject": ref("Patient", c.id),
        "topic": {"text": f"eConsult: {rec.specialty_name}"},
        "sent": instant(c.submitted_at),
    }


def communication(rec: ConsultRecord, entry: ThreadEntry) -> dict[str, Any]:
    c, m = rec.consult, entry.message
    out: dict[str, Any] = {
        "resourceType": "Communication",
        "id": m.id,
        "meta": meta("Communication", m.created_at),
        "basedOn": [ref("ServiceRequest", c.id)],
        "partOf": [ref("Communication", c.id)],
        "status": "completed",
        "category": [_category(entry.category)],
        "subject": ref("Patient", c.id),
        "sent": instant(m.created_at),
        "sender": ref("PractitionerRole", m.author_id),
        "payload": [{"contentString": m.body},
                    *({"contentReference": ref("DocumentReference", i.id)} for i in m.images)],
    }
    if entry.in_response_to:
        out["inResponseTo"] = [ref("Communication", entry.in_response_to)]
    recipient = c.assigned_to if entry.from_requester else c.gp_id
    if recipient is not None:
        out["recipient"] = [ref("PractitionerRole", recipient)]
    return out


def communications(rec: ConsultRecord) -> list[dict[str, Any]]:
    """The header, then every message."""
    return [header(rec), *(communication(rec, e) for e in entries(rec))]


def _from_requester(rec: ConsultRecord, m: RecordMessage) -> bool:
    if m.author_id == rec.consult.gp_id:
        return True
    author = rec.person(m.author_id)
    # The GP's side is anyone but a specialist (a delegate relaying for the GP).
    return author is not None and author.role is not Role.specialist


def _category(code: str) -> dict[str, Any]:
    return concept(coding(CS_MESSAGE_KIND, code, MESSAGE_KINDS[code]),
                   text=MESSAGE_KINDS[code])
