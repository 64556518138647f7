"""A consult's clinical content beyond the question, decrypted, as plain data for the
detail view, the letter and the referral summary: the checklist answers rendered with
the version the consult was sent with, sex, medications, allergies, the structured
answers with their signatory, and the referral. Load it only for a caller the policy
allowed to view the consult."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.checklist_store import version_of
from econsult.consults.checklists import missing_recommended, summary
from econsult.models import Consult, Referral, StructuredAnswer, User
from econsult.security.fields import FieldCipher

SEXES_TEXT = {"female": "Female", "male": "Male", "intersex": "Intersex",
              "unknown": "Unknown or not disclosed"}
DECIDERS = {"gp_choice": "The GP's decision",
            "specialist_advice": "The specialist's recommendation, accepted by the GP"}


@dataclass(slots=True)
class ChecklistItem:
    name: str
    label: str
    value: str | None
    required: bool
    recommended: bool
    text: str  # "TSH: 2.1 mIU/L", or "Not provided: ... (recommended)"


@dataclass(slots=True)
class ChecklistAnswers:
    reason: str
    title: str
    version: int
    items: list[ChecklistItem]
    missing_recommended: list[str]


@dataclass(slots=True)
class Signatory:
    name: str
    credentials: str
    registration: str


@dataclass(slots=True)
class StructuredParts:
    impression: str
    plan: str
    refer_if: str
    follow_up: str
    referral_advised: bool
    signatory: Signatory

    @property
    def structured(self) -> bool:
        """Whether the specialist wrote any structured part (a plain answer is signed
        too, but says nothing about a referral)."""
        return bool(self.impression or self.plan or self.refer_if or self.follow_up
                    or self.referral_advised)


@dataclass(slots=True)
class ReferralView:
    referral_date: str  # the consult's request date: the patient keeps their place
    converted_at: str
    decided_by: str  # gp_choice | specialist_advice
    decided_by_text: str
    decided_by_id: int
    advised_by_id: int | None
    reason: str


@dataclass(slots=True)
class ClinicalContent:
    checklist: ChecklistAnswers | None
    patient_sex: str | None
    medications: str | None
    allergies: str | None
    answers: dict[str, StructuredParts] = field(default_factory=dict)  # by message id
    referral: ReferralView | None = None


async def load(db: AsyncSession, fields: FieldCipher, consult: Consult) -> ClinicalContent:
    open_ = fields.open_optional
    checklist = None
    if consult.reason and consult.checklist_version is not None:
        row = await version_of(db, consult.specialty, consult.reason, consult.checklist_version)
        raw = open_("consults", "checklist_answers", consult.id, consult.checklist_answers)
        if row is not None:
            schema = json.loads(row.document)
            answers = json.loads(raw) if raw else {}
            checklist = ChecklistAnswers(
                reason=row.reason, title=row.title, version=row.version,
                items=[ChecklistItem(s.name, s.label, s.value, s.required, s.recommended,
                                     s.text) for s in summary(schema, answers)],
                missing_recommended=missing_recommended(schema, answers))
    parts = list((await db.execute(select(StructuredAnswer).where(
        col(StructuredAnswer.consult_id) == consult.id))).scalars())
    referral_row = await db.get(Referral, consult.id)
    return ClinicalContent(
        checklist=checklist,
        patient_sex=open_("consults", "patient_sex", consult.id, consult.patient_sex),
        medications=open_("consults", "medications", consult.id, consult.medications),
        allergies=open_("consults", "allergies", consult.id, consult.allergies),
        answers={p.message_id: _parts(fields, p) for p in parts},
        referral=_referral(fields, referral_row) if referral_row else None,
    )


def _parts(fields: FieldCipher, row: StructuredAnswer) -> StructuredParts:
    def text(name: str) -> str:
        return fields.open_optional("structured_answers", name, row.message_id,
                                    getattr(row, name)) or ""

    return StructuredParts(text("impression"), text("plan"), text("refer_if"),
                           text("follow_up"), row.referral_advised,
                           Signatory(row.signatory_name, row.signatory_credentials,
                                     row.signatory_registration))


def _referral(fields: FieldCipher, row: Referral) -> ReferralView:
    return ReferralView(
        referral_date=row.referral_date.isoformat(), converted_at=row.converted_at.isoformat(),
        decided_by=row.decided_by, decided_by_text=DECIDERS.get(row.decided_by, row.decided_by),
        decided_by_id=row.decided_by_id, advised_by_id=row.advised_by_id,
        reason=fields.open("referrals", "reason", row.consult_id, row.reason))


def signatory_of(user: User) -> Signatory:
    """Who signs an answer: the named specialist, with their credentials and
    registration number as their profile has them when they sign."""
    return Signatory(user.name, user.credentials, user.registration)
