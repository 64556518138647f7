"""Task: the "process request" task that tracks a consult, `Task/{consult id}`.

status carries the nearest FHIR task state and businessStatus our own state (notes
section 5); owner is the specialist holding it, absent while it waits in the pool, where
performerType says which specialty may take it. restriction.period.end is when the
answer is due; output points at the answers (and their structured parts), the workup
checklist, the close-out survey and the letter.
"""

from __future__ import annotations

from typing import Any

from econsult.interop.fhir import documents, questionnaires, threads
from econsult.interop.fhir.codes import (
    CS_INFOWAY_BUSINESS_STATUS,
    CS_STATE,
    CS_TASK_OUTPUT,
    EXT_NEEDS_TO_BE_SEEN,
    PRIORITY,
    STATE_DISPLAY,
    TASK_STATUS,
    coding,
    concept,
    instant,
    meta,
    ref,
    specialty_concept,
    urgency_extension,
    urn_identifier,
)
from econsult.interop.record import ConsultRecord

_STATUS_REASON = {"awaiting_gp": "Clarification requested from the GP",
                  "cancelled": "Withdrawn by the GP"}


def task(rec: ConsultRecord) -> dict[str, Any]:
    c = rec.consult
    business = [coding(CS_STATE, c.state, STATE_DISPLAY.get(c.state))]
    if c.state == "answered":
        business.append(coding(CS_INFOWAY_BUSINESS_STATUS, "completed-with-advice",
                               "Completed with advice"))
    out: dict[str, Any] = {
        "resourceType": "Task",
        "id": c.id,
        "meta": meta("Task", c.updated_at),
        "extension": [
            {"url": EXT_NEEDS_TO_BE_SEEN, "valueBoolean": c.converted_to == "referral"},
            urgency_extension(c.urgency),
        ],
        "identifier": [urn_identifier(c.id)],
        "basedOn": [ref("ServiceRequest", c.id)],
        "status": TASK_STATUS.get(c.state, "requested"),
        "businessStatus": concept(*business, text=STATE_DISPLAY.get(c.state, c.state)),
        "intent": "order",
        "priority": PRIORITY.get(c.urgency, "routine"),
        "code": concept({"code": "process-request-consult",
                         "display": "Process Request (eConsult)"},
                        text="Process Request (eConsult)"),
        "focus": ref("ServiceRequest", c.id),
        "for": ref("Patient", c.id),
        "authoredOn": instant(c.submitted_at),
        "lastModified": instant(c.updated_at),
        "requester": ref("PractitionerRole", c.gp_id),
        "performerType": [specialty_concept(c.specialty, rec.specialty_name)],
    }
    if c.state in _STATUS_REASON:
        out["statusReason"] = {"text": _STATUS_REASON[c.state]}
    if c.assigned_to is not None:
        out["owner"] = ref("PractitionerRole", c.assigned_to)
    if c.acknowledged_at is not None:
        period = {"start": instant(c.acknowledged_at)}
        if c.answered_at is not None:
            period["end"] = instant(c.answered_at)
        out["executionPeriod"] = period
    if c.respond_due_at is not None:
        out["restriction"] = {"period": {"end": instant(c.respond_due_at)}}
    outputs = _outputs(rec)
    if outputs:
        out["output"] = outputs
    return out


def _outputs(rec: ConsultRecord) -> list[dict[str, Any]]:
    out = [_output("checklist", "Workup checklist",
                   valueReference=ref("QuestionnaireResponse", qr_id))
           for qr_id in questionnaires.checklist_ids(rec)]
    out.extend(_output("answer", "Advice", valueReference=ref("Communication", message_id))
               for message_id in threads.answer_ids(rec))
    out.extend(_output("structured-answer", "Structured answer",
                       valueReference=ref("QuestionnaireResponse", qr_id))
               for qr_id in questionnaires.answer_ids(rec))
    if rec.consult.converted_to == "referral":
        out.append(_output("referral-advised", "Referral advised", valueBoolean=True))
    out.extend(_output("closeout-survey", "Close-out survey",
                       valueReference=ref("QuestionnaireResponse", qr_id))
               for qr_id in questionnaires.survey_ids(rec))
    if documents.letter_available(rec):
        out.append(_output("letter", "Consult letter",
                           valueReference=ref("DocumentReference", documents.letter_id(rec.id))))
    return out


def _output(code: str, text: str, **value: Any) -> dict[str, Any]:
    return {"type": concept(coding(CS_TASK_OUTPUT, code), text=text), **value}
