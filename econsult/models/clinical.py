"""Clinical content: workup checklists (versioned), structured answers and their
signatory, specialists' answer templates, "my usual specialist", referrals.

Checklists are data staff edit: every edit is a new row (a new version), never an
update, so a consult that records (specialty, reason, version) always renders with
the checklist it was answered against. Clinical text is sealed (SealedBytes); the
signatory's name, credentials and registration are copied onto the answer when it is
signed, so a later profile change does not rewrite a signed letter.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from econsult.models.base import utc_field
from econsult.models.types import SealedBytes


class Checklist(SQLModel, table=True):
    __tablename__ = "checklists"
    __table_args__ = (UniqueConstraint("specialty", "reason", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    specialty: str = Field(foreign_key="specialties.slug", max_length=64, index=True)
    reason: str = Field(max_length=64)
    version: int
    title: str = Field(max_length=200)
    document: str  # the JSON Schema document, as edited (checklist_schema.check_schema)
    created_at: datetime = utc_field()
    created_by: int | None = Field(default=None, foreign_key="users.id")  # None: shipped


class StructuredAnswer(SQLModel, table=True):
    """The parts of an answer message beyond its body, and who signed it."""

    __tablename__ = "structured_answers"

    message_id: str = Field(foreign_key="messages.id", primary_key=True, max_length=36)
    consult_id: str = Field(foreign_key="consults.id", index=True, max_length=36)
    impression: bytes | None = Field(default=None, sa_type=SealedBytes())
    plan: bytes | None = Field(default=None, sa_type=SealedBytes())
    refer_if: bytes | None = Field(default=None, sa_type=SealedBytes())
    follow_up: bytes | None = Field(default=None, sa_type=SealedBytes())
    referral_advised: bool = Field(default=False)
    signatory_id: int = Field(foreign_key="users.id")
    signatory_name: str = Field(max_length=200)
    signatory_credentials: str = Field(default="", max_length=200)
    signatory_registration: str = Field(default="", max_length=64)


class AnswerTemplate(SQLModel, table=True):
    """A specialist's saved snippet for answers: only its owner reads or changes it."""

    __tablename__ = "answer_templates"

    id: str = Field(primary_key=True, max_length=36)
    owner_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=120)
    content: bytes = Field(sa_type=SealedBytes())  # JSON: body, impression, plan, ...
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class UsualSpecialist(SQLModel, table=True):
    """A GP's "my usual specialist" for one specialty, prefilled on the next consult."""

    __tablename__ = "usual_specialists"

    gp_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    specialty: str = Field(foreign_key="specialties.slug", primary_key=True, max_length=64)
    specialist_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    updated_at: datetime = utc_field()


class Referral(SQLModel, table=True):
    """A consult converted to a referral: the referral date is the consult's request
    date (the patient keeps their place), with who decided and why."""

    __tablename__ = "referrals"

    consult_id: str = Field(foreign_key="consults.id", primary_key=True, max_length=36)
    referral_date: datetime = utc_field()
    converted_at: datetime = utc_field()
    decided_by: str = Field(max_length=32)  # gp_choice | specialist_advice
    decided_by_id: int = Field(foreign_key="users.id")  # the GP who converted
    advised_by_id: int | None = Field(default=None, foreign_key="users.id")
    reason: bytes = Field(sa_type=SealedBytes())
