"""The referral summary the receiving clinic needs when a consult becomes a referral:
who, why, since when (the consult's request date: the patient keeps their place), who
decided, what was asked and found (the workup checklist), medications, allergies, and
the specialist's structured advice. Plain data from a loaded record, for the consult
letter (letter.py) and any other face that sends referrals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from econsult.consults import clinical_content
from econsult.consults.clinical_content import SEXES_TEXT, ClinicalContent, StructuredParts
from econsult.consults.deps import ConsultDeps
from econsult.interop.record import ConsultRecord


@dataclass(frozen=True, slots=True)
class ReferralSummary:
    patient_name: str
    patient_dob: str
    health_number: str
    patient_sex: str
    specialty: str
    referral_date: datetime  # the consult's request date
    converted_at: datetime
    reason: str
    decided_by: str  # in words
    referring_gp: str
    advising_specialist: str
    question: str
    reason_for_referral: str  # the checklist's title, or ""
    workup: tuple[str, ...]  # checklist lines, "Label: value" / "Not provided: ..."
    medications: str
    allergies: str
    impression: str
    plan: str
    refer_if: str
    follow_up: str


async def load_content(deps: ConsultDeps, rec: ConsultRecord) -> ClinicalContent:
    """The decrypted clinical content of a record the caller was allowed to load."""
    async with deps.db.read() as db:
        return await clinical_content.load(db, deps.fields, rec.consult)


def latest_parts(rec: ConsultRecord, content: ClinicalContent) -> StructuredParts | None:
    answers = [m for m in rec.messages if m.kind == "answer" and m.id in content.answers]
    return content.answers[answers[-1].id] if answers else None


def _adviser(name: str, parts: StructuredParts | None) -> str:
    """The specialist whose advice was accepted, as they signed it."""
    if not name or parts is None or parts.signatory.name != name:
        return name
    credentials = parts.signatory.credentials
    return f"{name}, {credentials}" if credentials else name


def referral_summary(rec: ConsultRecord, content: ClinicalContent) -> ReferralSummary | None:
    """None unless the consult was converted to a referral."""
    ref = content.referral
    if ref is None:
        return None
    parts = latest_parts(rec, content)
    gp, adviser = rec.person(ref.decided_by_id), rec.person(ref.advised_by_id)
    checklist = content.checklist
    return ReferralSummary(
        patient_name=rec.patient_name, patient_dob=rec.patient_dob,
        health_number=rec.health_number,
        patient_sex=SEXES_TEXT.get(content.patient_sex or "", "Not recorded"),
        specialty=rec.specialty_name,
        referral_date=datetime.fromisoformat(ref.referral_date),
        converted_at=datetime.fromisoformat(ref.converted_at),
        reason=ref.reason, decided_by=ref.decided_by_text,
        referring_gp=gp.name if gp else "",
        advising_specialist=_adviser(adviser.name if adviser else "", parts),
        question=rec.question,
        reason_for_referral=checklist.title if checklist else "",
        workup=tuple(item.text for item in checklist.items) if checklist else (),
        medications=content.medications or "Not recorded",
        allergies=content.allergies or "Not recorded",
        impression=parts.impression if parts else "", plan=parts.plan if parts else "",
        refer_if=parts.refer_if if parts else "", follow_up=parts.follow_up if parts else "",
    )
