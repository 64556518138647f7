"""QuestionnaireResponse: structured answers attached to a consult.

The GP's close-out survey, `QuestionnaireResponse/closeout-{consult id}`; the workup
checklist the GP answered when sending, `checklist-{consult id}`, its items made by
`checklist_items` from the JSON Schema of the version the consult was sent with and the
stored answers; and each structured answer, `answer-{message id}` (impression, plan,
refer-if, follow-up, referral advised), authored by the specialist who signed it.
Items follow Ocean's convention: linkId = the form's key, text = the question, an
answer only when one was given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from econsult.interop.fhir.codes import (
    CANONICAL,
    CS_OUTCOME,
    OUTCOME_DISPLAY,
    Q_CLOSEOUT,
    Q_STRUCTURED_ANSWER,
    coding,
    instant,
    meta,
    ref,
)
from econsult.interop.record import ConsultRecord, RecordAnswerParts

Builder = Callable[[ConsultRecord], list[dict[str, Any]]]


CLOSEOUT_PREFIX, CHECKLIST_PREFIX, ANSWER_PREFIX = "closeout-", "checklist-", "answer-"


def closeout_id(consult_id: str) -> str:
    return f"{CLOSEOUT_PREFIX}{consult_id}"


def checklist_id(consult_id: str) -> str:
    return f"{CHECKLIST_PREFIX}{consult_id}"


def answer_id(message_id: str) -> str:
    return f"{ANSWER_PREFIX}{message_id}"


def closeout_survey(rec: ConsultRecord) -> list[dict[str, Any]]:
    c = rec.consult
    if c.outcome is None or c.closed_at is None:
        return []  # auto-closed, or not closed yet: no survey was answered
    items: list[dict[str, Any]] = [
        _item("outcome", "What happened to the referral?",
              {"valueCoding": coding(CS_OUTCOME, c.outcome, OUTCOME_DISPLAY.get(c.outcome))}),
        _item("usefulness", "How useful was the advice? (1 = not at all, 5 = very)",
              {"valueInteger": c.usefulness} if c.usefulness is not None else None),
        _item("comment", "Comment", {"valueString": rec.close_comment}
              if rec.close_comment else None),
    ]
    return [_response(rec, closeout_id(c.id), Q_CLOSEOUT, items, author=c.gp_id,
                      authored=c.closed_at)]


def checklist(rec: ConsultRecord) -> list[dict[str, Any]]:
    """The workup checklist, as answered with the version the consult was sent with."""
    c, cl = rec.consult, rec.checklist
    if cl is None:
        return []
    items = checklist_items(cl.schema, cl.answers, checklist_choices(c.specialty, cl.reason))
    return [_response(rec, checklist_id(c.id),
                      checklist_questionnaire(c.specialty, cl.reason, cl.version), items,
                      author=c.gp_id, authored=c.submitted_at)]


def structured_answers(rec: ConsultRecord) -> list[dict[str, Any]]:
    """One per answer message the specialist wrote structured parts for, in thread order."""
    return [_structured(rec, m.created_at, rec.answer_parts[m.id]) for m in rec.messages
            if m.id in rec.answer_parts and is_structured(rec.answer_parts[m.id])]


def is_structured(p: RecordAnswerParts) -> bool:
    """A plain answer is signed too but has no parts: no QuestionnaireResponse. (The
    search's SQL says the same: sources._questionnaire_responses.)"""
    return bool(p.impression or p.plan or p.refer_if or p.follow_up or p.referral_advised)


def _structured(rec: ConsultRecord, at: Any, p: RecordAnswerParts) -> dict[str, Any]:
    def text(value: str) -> dict[str, Any] | None:
        return {"valueString": value} if value else None

    items = [
        _item("impression", "Impression", text(p.impression)),
        _item("plan", "Plan", text(p.plan)),
        _item("refer_if", "Refer if", text(p.refer_if)),
        _item("follow_up", "Follow-up", text(p.follow_up)),
        _item("referral_advised", "Referral advised", {"valueBoolean": p.referral_advised}),
    ]
    out = _response(rec, answer_id(p.message_id), Q_STRUCTURED_ANSWER, items,
                    author=p.signatory_id, authored=at)
    out["author"]["display"] = p.signatory_name  # as signed, whatever the profile says now
    return out


_BUILDERS: tuple[Builder, ...] = (checklist, structured_answers, closeout_survey)


def responses(rec: ConsultRecord) -> list[dict[str, Any]]:
    return [qr for build in _BUILDERS for qr in build(rec)]


def survey_ids(rec: ConsultRecord) -> list[str]:
    return [qr["id"] for qr in closeout_survey(rec)]


def checklist_ids(rec: ConsultRecord) -> list[str]:
    return [checklist_id(rec.id)] if rec.checklist is not None else []


def answer_ids(rec: ConsultRecord) -> list[str]:
    return [qr["id"] for qr in structured_answers(rec)]


def checklist_questionnaire(specialty: str, reason: str, version: int) -> str:
    return f"{CANONICAL}/Questionnaire/checklist-{specialty}-{reason}|{version}"


def checklist_choices(specialty: str, reason: str) -> str:
    """The code system of one checklist's choices (its enum values)."""
    return f"{CANONICAL}/CodeSystem/checklist-{specialty}-{reason}"


def checklist_items(schema: Mapping[str, Any], answers: Mapping[str, object],
                    choice_system: str) -> list[dict[str, Any]]:
    """One item per checklist property, in the schema's order; answers typed by the
    property's JSON Schema type (choices as codings of `choice_system`)."""
    items = []
    for name, prop in schema.get("properties", {}).items():
        value = answers.get(name)
        items.append(_item(name, str(prop.get("title", name)),
                           _answer(prop, value, choice_system)))
    return items


def _answer(prop: Mapping[str, Any], value: object, choice_system: str
            ) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    kind = prop.get("type")
    if kind == "boolean" and isinstance(value, bool):
        return {"valueBoolean": value}
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return {"valueInteger": value}
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return {"valueDecimal": value}
    if kind == "string" and "enum" in prop and value in prop["enum"]:
        labels = prop.get("x-enum-labels", prop["enum"])
        return {"valueCoding": coding(choice_system, str(value),
                                      str(labels[list(prop["enum"]).index(value)]))}
    if kind == "string" and prop.get("format") == "date":
        return {"valueDate": str(value)}
    return {"valueString": str(value)}


def _item(link_id: str, text: str, answer: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link_id, "text": text}
    if answer is not None:
        item["answer"] = [answer]
    return item


def _response(rec: ConsultRecord, qr_id: str, questionnaire: str, items: list[dict[str, Any]],
              *, author: int, authored: Any) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qr_id,
        "meta": meta("QuestionnaireResponse", authored),
        "questionnaire": questionnaire,
        "basedOn": [ref("ServiceRequest", rec.id)],
        "status": "completed",
        "subject": ref("Patient", rec.id),
        "authored": instant(authored),
        "author": ref("PractitionerRole", author),
        "item": items,
    }
