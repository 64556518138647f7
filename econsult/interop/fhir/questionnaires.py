"""QuestionnaireResponse: structured answers attached to a consult.

Today that is the GP's close-out survey, `QuestionnaireResponse/closeout-{consult id}`.
The workup checklist answers (issue 16) slot in as one more builder in `_BUILDERS`,
`checklist-{consult id}`, its items made by `checklist_items` from the checklist's JSON
Schema and the stored answers; the structured answer, `answer-{message id}`, likewise.
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
    coding,
    instant,
    meta,
    ref,
)
from econsult.interop.record import ConsultRecord

Builder = Callable[[ConsultRecord], list[dict[str, Any]]]


def closeout_id(consult_id: str) -> str:
    return f"closeout-{consult_id}"


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


# Issue 16 adds: checklist (the workup items the GP answered) and the structured answer.
_BUILDERS: tuple[Builder, ...] = (closeout_survey,)


def responses(rec: ConsultRecord) -> list[dict[str, Any]]:
    return [qr for build in _BUILDERS for qr in build(rec)]


def survey_ids(rec: ConsultRecord) -> list[str]:
    return [qr["id"] for qr in closeout_survey(rec)]


def checklist_questionnaire(specialty: str, reason: str, version: int) -> str:
    return f"{CANONICAL}/Questionnaire/checklist-{specialty}-{reason}|{version}"


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
