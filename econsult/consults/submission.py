"""What a GP sends to ask a specialty (the form, the API and FHIR alike) and when it
is valid: the checks a submission passes before anything is routed or written."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from econsult.consults import clinical_intake
from econsult.consults.clinical_intake import ClinicalInput
from econsult.errors import InvalidInput
from econsult.routing.targets import Urgency, urgencies_for

_HEALTH_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{3,23}$")
_FITZPATRICK = {"I", "II", "III", "IV", "V", "VI"}
DERMATOLOGY_FIELDS = (
    "body_site",
    "duration",
    "lesion_description",
    "symptoms",
    "history",
    "fitzpatrick",
)


@dataclass(frozen=True)
class SubmitInput:
    specialty: str
    urgency: str
    question: str
    patient_name: str
    patient_dob: str
    patient_health_number: str
    details: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    gp: str = ""  # email of the GP the consult is for (required from a delegate)
    # Reason for referral and its checklist, sex, medications, allergies, named specialist.
    clinical: ClinicalInput = field(default_factory=ClinicalInput)


def validate(data: SubmitInput, today: date) -> None:
    def need(name: str, value: str, low: int, high: int, label: str) -> None:
        value = value.strip()
        if len(value) < low:
            raise InvalidInput(
                f"{label} is required."
                if low <= 1
                else f"{label} needs at least {low} characters.",
                field=name,
            )
        if len(value) > high:
            raise InvalidInput(f"{label} is too long (at most {high} characters).", field=name)

    need("question", data.question, 10, 10_000, "The question")
    need("patient_name", data.patient_name, 1, 200, "The patient's name")
    try:
        dob = date.fromisoformat(data.patient_dob.strip())
    except ValueError:
        raise InvalidInput(
            "Date of birth must be a date like 1980-04-23.", field="patient_dob"
        ) from None
    if dob > today or dob.year < today.year - 130:
        raise InvalidInput("Date of birth is not plausible.", field="patient_dob")
    if not _HEALTH_NUMBER.match(data.patient_health_number.strip()):
        raise InvalidInput(
            "Health number must be 4 to 24 letters, digits, spaces or hyphens.",
            field="patient_health_number",
        )
    try:
        urgency = Urgency(data.urgency)
    except ValueError:
        raise InvalidInput(
            "Urgency must be urgent, semi_urgent or routine.", field="urgency"
        ) from None
    if urgency not in urgencies_for(data.specialty):
        raise InvalidInput(
            f"{data.specialty} does not offer {urgency.value} consults.", field="urgency"
        )
    for name, value in data.details.items():
        if name not in DERMATOLOGY_FIELDS:
            raise InvalidInput(f"Unknown field {name}.", field=name)
        need(name, value, 0, 2000, name.replace("_", " ").capitalize())
    fitz = data.details.get("fitzpatrick", "").strip()
    if fitz and fitz.upper() not in _FITZPATRICK and fitz not in {"1", "2", "3", "4", "5", "6"}:
        raise InvalidInput("Fitzpatrick skin type must be I to VI.", field="fitzpatrick")
    clinical_intake.check_fields(data.clinical)
    if data.idempotency_key is not None and not 8 <= len(data.idempotency_key) <= 128:
        raise InvalidInput("Idempotency-Key must be 8 to 128 characters.", field="idempotency_key")
