"""The vocabulary of econsult's FHIR face: canonical URLs, code systems, profiles, and how
our states, urgencies and specialties are coded (docs/fhir.md, /work/notes/fhir.md).

Canonicals are identifiers, not addresses: every deployment mints the same ones under
`CANONICAL`, never derived from the request's host. `econsult.example` is a placeholder
to be replaced once, before the first external integration (stored codings would break
if it changed later).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

FHIR_VERSION = "4.0.1"
MEDIA_TYPE = "application/fhir+json"
CANONICAL = "https://econsult.example/fhir"

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
URN = "urn:ietf:rfc:3986"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

CS_STATE = f"{CANONICAL}/CodeSystem/consult-state"
CS_URGENCY = f"{CANONICAL}/CodeSystem/urgency-tier"
CS_MESSAGE_KIND = f"{CANONICAL}/CodeSystem/message-kind"
CS_TASK_OUTPUT = f"{CANONICAL}/CodeSystem/task-output"
CS_OUTCOME = f"{CANONICAL}/CodeSystem/closeout-outcome"
CS_SPECIALTY = f"{CANONICAL}/CodeSystem/specialty"
CS_ATTACHMENT = f"{CANONICAL}/CodeSystem/attachment-kind"
CS_PHOTO_LABEL = f"{CANONICAL}/CodeSystem/photo-label"
EXT_URGENCY = f"{CANONICAL}/StructureDefinition/urgency-tier"
Q_CLOSEOUT = f"{CANONICAL}/Questionnaire/closeout-survey|1"
Q_STRUCTURED_ANSWER = f"{CANONICAL}/Questionnaire/structured-answer|1"
# The Ontario extension saying whether the patient needs to be seen (false: an eConsult).
EXT_NEEDS_TO_BE_SEEN = ("http://ehealthontario.ca/fhir/StructureDefinition/"
                        "ca-on-eConsult-ext-patient-needs-to-be-seen")
CS_INFOWAY_BUSINESS_STATUS = "https://fhir.infoway-inforoute.ca/CodeSystem/ca-referralbusinessstatus"

# The pan-Canadian (CA:eReC) and Ontario profiles our resources follow as far as their
# rules are known; claims no CI validator checks (the IG packages are not available), so
# kept in this one table to drop if a validator disagrees.
_CA = "http://fhir.infoway-inforoute.ca/io/CA-eReC/StructureDefinition/CA-eReC-"
_ON = "http://ehealthontario.ca/fhir/StructureDefinition/ca-on-eReferral-profile-"
PROFILES: dict[str, list[str]] = {
    name: [f"{_CA}{name}", f"{_ON}{name}"]
    for name in ("ServiceRequest", "Task", "Communication", "QuestionnaireResponse",
                 "DocumentReference", "Patient", "Practitioner", "PractitionerRole")
}

# SNOMED CT specialty qualifier values (notes section 4.1); a slug not listed is sent
# as text and our own specialty coding only.
SPECIALTY_SNOMED: dict[str, tuple[str, str]] = {
    "dermatology": ("394582007", "Dermatology"),
    "cardiology": ("394579002", "Cardiology"),
    "endocrinology": ("394583002", "Endocrinology"),
    "psychiatry": ("394587001", "Psychiatry"),
    "neurology": ("394591006", "Neurology"),
    "gastroenterology": ("394584008", "Gastroenterology"),
    "rheumatology": ("394810000", "Rheumatology"),
    "nephrology": ("394589003", "Nephrology"),
    "hematology": ("394803006", "Clinical hematology"),
    "infectious-diseases": ("394807007", "Infectious diseases"),
    "geriatric-medicine": ("394811001", "Geriatric medicine"),
    "pediatrics": ("394537008", "Pediatric specialty"),
}
GENERAL_PHYSICIAN = ("59058001", "General physician")

# Our urgency -> FHIR request-priority (routine < urgent < asap < stat). Our urgent is
# RACE's two-hour call-back, FHIR's asap; semi_urgent (two business days) is "urgent".
PRIORITY = {"routine": "routine", "semi_urgent": "urgent", "urgent": "asap"}

STATE_DISPLAY = {"assigned": "Assigned to a specialist", "pooled": "In the specialty pool",
                 "in_review": "In review", "awaiting_gp": "Clarification requested",
                 "answered": "Answered", "closed": "Closed", "cancelled": "Cancelled"}
# Task.status for each state (notes section 5); an answer may be followed up, which
# returns the consult to in_review: a departure from FHIR's terminal "completed".
TASK_STATUS = {"assigned": "requested", "pooled": "requested", "in_review": "in-progress",
               "awaiting_gp": "on-hold", "answered": "completed", "closed": "completed",
               "cancelled": "cancelled"}
SERVICE_REQUEST_STATUS = {"closed": "completed", "cancelled": "revoked"}  # else active
MESSAGE_KINDS = {"message": "Message", "clarification-request": "Clarification request",
                 "clarification-response": "Clarification response", "answer": "Answer",
                 "reroute": "Reroute note", "thread": "Consult thread"}
OUTCOME_DISPLAY = {"referral_avoided": "Referral avoided",
                   "referral_still_needed": "Referral still needed",
                   "referral_now_planned": "Referral now planned", "other": "Other"}
PHOTO_LABELS = {"overview": "Overview", "close_up": "Close-up", "dermoscopy": "Dermoscopy",
                "other": "Other"}

# Provincial health-number systems (CA Baseline). Ontario's differs in form.
_HCN = "https://fhir.infoway-inforoute.ca/NamingSystem/ca-{}-patient-healthcare-id"
_ONTARIO_HCN = "https://fhir.infoway-inforoute.ca/NamingSystem/ca-on-patient-hcn"


def health_number_system(holidays_region: str) -> str:
    """The identifier system of the program's health numbers. The web form takes a
    number without a province; the program's province (ECONSULT_HOLIDAYS, e.g. CA-BC)
    is the one its patients' cards are from (docs/fhir.md, departures)."""
    province = holidays_region.split("-", 1)[-1].lower() if "-" in holidays_region else "bc"
    return _ONTARIO_HCN if province == "on" else _HCN.format(province)


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)} if codings else {}
    if text:
        out["text"] = text
    return out


def ref(resource_type: str, resource_id: object) -> dict[str, str]:
    return {"reference": f"{resource_type}/{resource_id}"}


def urn_identifier(resource_id: str) -> dict[str, str]:
    return {"system": URN, "value": f"urn:uuid:{resource_id}"}


def instant(value: datetime) -> str:
    """A FHIR instant: UTC, milliseconds, Z."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meta(resource_type: str, last_updated: datetime) -> dict[str, Any]:
    return {"lastUpdated": instant(last_updated), "profile": list(PROFILES[resource_type])}


def specialty_concept(slug: str, name: str | None = None) -> dict[str, Any]:
    codings = []
    if slug in SPECIALTY_SNOMED:
        code, display = SPECIALTY_SNOMED[slug]
        codings.append(coding(SNOMED, code, display))
    codings.append(coding(CS_SPECIALTY, slug, name))
    return concept(*codings, text=name or slug.replace("-", " ").capitalize())


def specialty_of_concept(value: Any) -> str | None:
    """Our slug from a CodeableConcept carrying our code or a SNOMED specialty code."""
    if not isinstance(value, dict):
        return None
    by_snomed = {code: slug for slug, (code, _) in SPECIALTY_SNOMED.items()}
    for c in value.get("coding") or []:
        if not isinstance(c, dict):
            continue
        if c.get("system") == CS_SPECIALTY and isinstance(c.get("code"), str):
            return str(c["code"])
        if c.get("system") == SNOMED and c.get("code") in by_snomed:
            return by_snomed[c["code"]]
    return None


def urgency_extension(urgency: str) -> dict[str, Any]:
    return {"url": EXT_URGENCY, "valueCoding": coding(CS_URGENCY, urgency,
                                                     urgency.replace("_", "-"))}
