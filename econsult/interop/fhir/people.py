"""Patient, Practitioner and PractitionerRole.

econsult keeps no patient register: each consult carries its patient's name, date of
birth and health number, encrypted. `Patient/{consult id}` is built from them on each
request and never stored in plaintext; EMRs match patients by the health-number
identifier. Practitioner and PractitionerRole share the account's id (one role each).
"""

from __future__ import annotations

import re
from typing import Any

from econsult.interop.fhir.codes import (
    GENERAL_PHYSICIAN,
    SNOMED,
    V2_0203,
    coding,
    concept,
    meta,
    ref,
    specialty_concept,
)
from econsult.interop.record import ConsultRecord, Person
from econsult.models import Role

# The sex the GP recorded -> AdministrativeGender (no sex recorded: no gender element).
_GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}


def human_name(text: str) -> dict[str, Any]:
    """A HumanName from how people type names: "Given Family", "Family, Given", with an
    optional leading "Dr". `text` keeps the name exactly as typed."""
    clean = " ".join(text.split())
    name: dict[str, Any] = {"text": clean}
    rest = clean
    match = re.match(r"(?i)(dr\.?)\s+(.+)", rest)
    if match:
        name["prefix"] = [match[1]]
        rest = match[2]
    if "," in rest:
        family, given = (part.strip() for part in rest.split(",", 1))
    else:
        given, _, family = rest.rpartition(" ")
    if family:
        name["family"] = family
    if given:
        name["given"] = given.split()
    return name


def patient(rec: ConsultRecord, health_number_system: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Patient",
        "id": rec.id,
        "meta": meta("Patient", rec.consult.submitted_at),
        "identifier": [{
            "type": concept(coding(V2_0203, "JHN", "Jurisdictional health number"),
                            text="Health card number"),
            "system": health_number_system,
            "value": rec.health_number,
        }],
        "name": [human_name(rec.patient_name)],
        "birthDate": rec.patient_dob,
        # The GP who asked is the patient's practitioner as far as this consult knows.
        "generalPractitioner": [ref("PractitionerRole", rec.consult.gp_id)],
    }
    if rec.patient_sex in _GENDER:
        out["gender"] = _GENDER[rec.patient_sex]
    return out


def practitioner(person: Person) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": str(person.id),
        "meta": meta("Practitioner", person.created_at),
        "active": person.active,
        "name": [human_name(person.name)],
        "telecom": [{"system": "email", "value": person.email, "use": "work"}],
    }


def practitioner_role(person: Person, specialty_names: dict[str, str] | None = None
                      ) -> dict[str, Any]:
    names = specialty_names or {}
    out: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": str(person.id),
        "meta": meta("PractitionerRole", person.created_at),
        "active": person.active,
        "practitioner": {**ref("Practitioner", person.id), "display": person.name},
    }
    if person.role is Role.gp:
        out["code"] = [concept(coding(SNOMED, *GENERAL_PHYSICIAN), text="General practitioner")]
    elif person.role is Role.specialist:
        out["code"] = [concept(text="Consulting specialist")]
        out["specialty"] = [specialty_concept(s, names.get(s)) for s in person.specialties]
    return out
