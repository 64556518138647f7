"""What a consult carries beyond the question: the reason for referral with its
workup checklist answers (validated against that reason's current version), the
patient's sex, medications and allergies, and the specialist the GP named.

`check` reads the database (the checklist, the named specialist) before the submit
transaction; `apply` seals the result onto the consult inside it; `remember` keeps the
named specialist as the GP's usual one for the specialty."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.checklist_store import current_one
from econsult.consults.checklists import validate_answers
from econsult.consults.clinical_content import SEXES_TEXT
from econsult.errors import InvalidInput
from econsult.models import Consult, Role, User, UserSpecialty, UsualSpecialist
from econsult.security.fields import FieldCipher

SEXES = SEXES_TEXT
MAX_LIST_TEXT = 4000


@dataclass(frozen=True, slots=True)
class ClinicalInput:
    """The raw fields, as the form or the API sent them."""

    reason: str = ""
    checklist: object = None  # a mapping of answers (or None: nothing answered)
    patient_sex: str = ""
    medications: str = ""
    allergies: str = ""
    specialist: str = ""  # email of the specialist the GP asks for


@dataclass(frozen=True, slots=True)
class ClinicalIntake:
    reason: str | None
    version: int | None
    answers: dict[str, object]
    patient_sex: str
    medications: str
    allergies: str
    specialist_id: int | None


def check_fields(data: ClinicalInput) -> None:
    """The checks that need no database (run before any photo is processed)."""
    sex = data.patient_sex.strip()
    if sex and sex not in SEXES:
        raise InvalidInput(f"Patient sex must be one of: {', '.join(SEXES)}.",
                           field="patient_sex")
    for name, label in (("medications", "Current medications"), ("allergies", "Allergies")):
        if len(getattr(data, name)) > MAX_LIST_TEXT:
            raise InvalidInput(f"{label} is too long (at most {MAX_LIST_TEXT:,} characters).",
                               field=name)
    if data.checklist not in (None, {}) and not data.reason.strip():
        raise InvalidInput("Choose the reason for referral the checklist belongs to.",
                           field="reason")


def needs_lookup(data: ClinicalInput) -> bool:
    """Whether `check` reads the database (a reason or a named specialist)."""
    return bool(data.reason.strip() or data.specialist.strip())


async def check(db: AsyncSession | None, specialty: str, data: ClinicalInput
                ) -> ClinicalIntake:
    """`db` may be None when not `needs_lookup(data)`."""
    check_fields(data)
    reason = data.reason.strip()
    version: int | None = None
    answers: dict[str, object] = {}
    if reason:
        assert db is not None, "a reason for referral is looked up"
        row = await current_one(db, specialty, reason)
        if row is None:
            raise InvalidInput(f"{reason} is not a reason for referral to {specialty}.",
                               field="reason")
        version = row.version
        answers = validate_answers(json.loads(row.document),
                                   {} if data.checklist is None else data.checklist)
    return ClinicalIntake(
        reason=reason or None, version=version, answers=answers,
        patient_sex=data.patient_sex.strip(), medications=data.medications.strip(),
        allergies=data.allergies.strip(),
        specialist_id=await _specialist(db, specialty, data.specialist.strip().lower()))


async def _specialist(db: AsyncSession | None, specialty: str, email: str) -> int | None:
    if not email:
        return None
    assert db is not None, "a named specialist is looked up"
    found = (await db.execute(
        select(col(User.id)).join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
        .where(col(User.email) == email, col(User.role) == Role.specialist.value,
               col(UserSpecialty.specialty) == specialty))).scalar()
    if found is None:
        raise InvalidInput(f"{email} is not a specialist of {specialty}.", field="specialist")
    return int(found)


def apply(consult: Consult, intake: ClinicalIntake, fields: FieldCipher) -> None:
    def seal(name: str, text: str) -> bytes | None:
        return fields.seal("consults", name, consult.id, text) if text else None

    consult.reason = intake.reason
    consult.checklist_version = intake.version
    consult.checklist_answers = (seal("checklist_answers", json.dumps(intake.answers))
                                 if intake.reason else None)
    consult.patient_sex = seal("patient_sex", intake.patient_sex)
    consult.medications = seal("medications", intake.medications)
    consult.allergies = seal("allergies", intake.allergies)
    consult.requested_specialist_id = intake.specialist_id


async def remember(db: AsyncSession, gp_id: int, specialty: str, specialist_id: int | None,
                   now: datetime) -> None:
    if specialist_id is None:
        return
    row = await db.get(UsualSpecialist, (gp_id, specialty))
    if row is None:
        db.add(UsualSpecialist(gp_id=gp_id, specialty=specialty, specialist_id=specialist_id,
                               updated_at=now))
    else:
        row.specialist_id, row.updated_at = specialist_id, now


_USUAL = UsualSpecialist.__table__  # type: ignore[attr-defined]


def remember_sync(conn: Connection, gp_id: int, specialty: str, specialist_id: int | None,
                  now: datetime) -> None:
    """`remember` on a synchronous connection."""
    if specialist_id is None:
        return
    moved = conn.execute(update(_USUAL).where(_USUAL.c.gp_id == gp_id,
                                              _USUAL.c.specialty == specialty)
                         .values(specialist_id=specialist_id, updated_at=now))
    if not moved.rowcount:
        conn.execute(insert(_USUAL).values(gp_id=gp_id, specialty=specialty,
                                           specialist_id=specialist_id, updated_at=now))


def parse_answers(raw: str | None) -> object:
    """The `checklist` form field: a JSON object of answers (or nothing)."""
    if raw is None or not raw.strip():
        return None
    try:
        value: Any = json.loads(raw)
    except ValueError:
        raise InvalidInput("The checklist answers must be a JSON object.",
                           field="checklist") from None
    if not isinstance(value, Mapping):
        raise InvalidInput("The checklist answers must be a JSON object.", field="checklist")
    return value
