"""ServiceRequest: the GP's request, one per consult, `ServiceRequest/{consult id}`.

Reason = the GP's question; urgency = priority (plus our tier extension, so a round trip
is lossless); the specialty = performerType and category; the assigned specialist =
performer (absent while pooled); photos sent with the question = supportingInfo.
"""

from __future__ import annotations

from typing import Any

from econsult.interop.fhir.codes import (
    PRIORITY,
    SERVICE_REQUEST_STATUS,
    meta,
    ref,
    specialty_concept,
    urgency_extension,
    urn_identifier,
)
from econsult.interop.fhir.codes import instant as fhir_instant
from econsult.interop.record import ConsultRecord

# Dermatology details the web form takes besides the body site; they travel as notes
# until the workup checklist (a QuestionnaireResponse) carries them.
_DETAIL_LABELS = {"duration": "Duration", "lesion_description": "Lesion",
                  "symptoms": "Symptoms", "history": "History",
                  "fitzpatrick": "Fitzpatrick skin type"}


def service_request(rec: ConsultRecord) -> dict[str, Any]:
    c = rec.consult
    specialty = specialty_concept(c.specialty, rec.specialty_name)
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": c.id,
        "meta": meta("ServiceRequest", c.updated_at),
        "extension": [urgency_extension(c.urgency)],
        "identifier": [urn_identifier(c.id)],
        "status": SERVICE_REQUEST_STATUS.get(c.state, "active"),
        "intent": "proposal",
        "category": [{**specialty, "text": "eConsult"}],
        "priority": PRIORITY.get(c.urgency, "routine"),
        "subject": ref("Patient", c.id),
        "authoredOn": fhir_instant(c.submitted_at),
        "requester": ref("PractitionerRole", c.gp_id),
        "performerType": specialty,
        "reasonCode": [{"text": rec.question}],
    }
    if c.assigned_to is not None:
        out["performer"] = [ref("PractitionerRole", c.assigned_to)]
    body_site = rec.details.get("body_site")
    if body_site:
        out["bodySite"] = [{"text": body_site}]
    notes = [f"{label}: {rec.details[key]}" for key, label in _DETAIL_LABELS.items()
             if rec.details.get(key)]
    if notes:
        out["note"] = [{"authorReference": ref("Practitioner", c.gp_id), "text": text,
                        "time": fhir_instant(c.submitted_at)} for text in notes]
    if rec.images:
        out["supportingInfo"] = [ref("DocumentReference", i.id) for i in rec.images]
    return out
