"""What the API and pages show of a consult, as typed objects: the non-clinical summary
every list row and step answer carries, the list row clinicians see, and the full
detail (decrypted) for the people allowed to see it.

The JSON faces render these with orjson, which serialises dataclasses natively (and
fast: a queue lists hundreds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import String, type_coerce
from sqlmodel import col

from econsult.consults.clinical_content import ChecklistAnswers, ReferralView, Signatory
from econsult.models import Consult


@dataclass(slots=True)
class ImagePublic:
    id: str
    label: str
    width: int
    height: int
    warnings: list[dict[str, str]]
    message_id: str | None = None


@dataclass(slots=True)
class AttachmentPublic:
    """A PDF attachment as the thread lists it (econsult.consults.attachments)."""

    id: str
    filename: str
    pages: int
    size_bytes: int
    removed: list[str]  # what the sanitiser took out ("JavaScript", "embedded file")
    message_id: str | None = None


@dataclass(slots=True)
class ConsultSummary:
    """Codes and times only: what anyone who may see a consult at all may see."""

    id: str
    state: str
    specialty: str
    urgency: str
    assigned_to: int | None
    due_at: str | None
    ack_due_at: str | None
    submitted_at: str
    updated_at: str
    at_risk: bool
    breached: bool
    converted_to: str | None


@dataclass(slots=True)
class ClinicalListItem(ConsultSummary):
    """A list row for the clinicians on the consult: the summary and the patient's name,
    the responsible GP and who sent it (a delegate, or the GP; None before delegates)."""

    patient_name: str = ""
    gp_id: int = 0
    submitted_by: int | None = None


@dataclass(slots=True)
class SubmittedConsult(ConsultSummary):
    """The answer to a submission: the summary and the photos as stored."""

    images: list[ImagePublic] = field(default_factory=list)
    attachments: list[AttachmentPublic] = field(default_factory=list)


@dataclass(slots=True)
class PersonRef:
    id: int
    name: str


@dataclass(slots=True)
class TimelineEvent:
    id: int
    type: str
    actor: int | None
    actor_name: str
    at: str
    # Codes from the event's payload that are safe to show anyone who sees the
    # consult (reason codes, tiers, specialties), never free text.
    data: dict[str, Any]


@dataclass(slots=True)
class Patient:
    name: str
    dob: str
    health_number: str


@dataclass(slots=True)
class ThreadMessage:
    id: str
    kind: str
    author: int
    author_name: str
    at: str
    minutes: int | None
    body: str
    images: list[ImagePublic]
    attachments: list[AttachmentPublic] = field(default_factory=list)
    # An answer's structured parts and who signed it (None on other kinds).
    impression: str | None = None
    plan: str | None = None
    refer_if: str | None = None
    follow_up: str | None = None
    referral_advised: bool | None = None
    signatory: Signatory | None = None


@dataclass(slots=True)
class Clinical:
    """Decrypted clinical content: only for `may(view)`, and every view is audited."""

    patient: Patient
    question: str
    details: dict[str, str]
    close_comment: str | None
    images: list[ImagePublic]
    messages: list[ThreadMessage]
    attachments: list[AttachmentPublic] = field(default_factory=list)
    reason: str | None = None
    checklist: ChecklistAnswers | None = None  # rendered with the version it was sent with
    patient_sex: str | None = None
    medications: str | None = None
    allergies: str | None = None
    referral: ReferralView | None = None


@dataclass(slots=True)
class ConsultDetail:
    summary: ConsultSummary
    gp: PersonRef
    assignee: PersonRef | None
    acknowledged_at: str | None
    answered_at: str | None
    closed_at: str | None
    outcome: str | None
    usefulness: int | None
    minutes_spent: int | None
    events: list[TimelineEvent]
    actions: list[str]  # what the caller may do now (econsult.consults.actions)
    side: str | None  # the caller's side of the thread (econsult.security.policy.side)
    clinical: Clinical | None = None
    submitted_by: int | None = None  # who sent it (as in list rows; None before delegates)
    sent_by: PersonRef | None = None  # the delegate who sent it for the GP, by name
    requested_specialist: PersonRef | None = None  # the GP's "usual specialist", if named

    def to_json(self) -> dict[str, Any]:
        """The contract's flat shape: summary fields, then the rest; clinical keys only
        for a caller allowed to see them."""
        out: dict[str, Any] = {name: getattr(self.summary, name) for name in _SUMMARY_NAMES}
        out.update(gp=self.gp, assignee=self.assignee, acknowledged_at=self.acknowledged_at,
                   answered_at=self.answered_at, closed_at=self.closed_at,
                   outcome=self.outcome, usefulness=self.usefulness,
                   minutes_spent=self.minutes_spent,
                   events=[{"id": e.id, "type": e.type, "actor": e.actor,
                            "actor_name": e.actor_name, "at": e.at, **e.data}
                           for e in self.events],
                   actions=self.actions, side=self.side, gp_id=self.gp.id,
                   submitted_by=self.submitted_by, sent_by=self.sent_by,
                   requested_specialist=self.requested_specialist)
        if self.clinical is not None:
            c = self.clinical
            out.update(patient=c.patient, question=c.question, details=c.details,
                       close_comment=c.close_comment, images=c.images, messages=c.messages,
                       attachments=c.attachments,
                       reason=c.reason, checklist=c.checklist, patient_sex=c.patient_sex,
                       medications=c.medications, allergies=c.allergies,
                       referral=c.referral)
        return out


_SUMMARY_NAMES = tuple(f.name for f in fields(ConsultSummary))


class SummaryFields(Protocol):
    """What a summary reads: a Consult, or a row of SUMMARY_COLUMNS."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def specialty(self) -> str: ...
    @property
    def urgency(self) -> str: ...
    @property
    def assigned_to(self) -> int | None: ...
    @property
    def respond_due_at(self) -> datetime | None: ...
    @property
    def ack_due_at(self) -> datetime | None: ...
    @property
    def submitted_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def at_risk_at(self) -> datetime | None: ...
    @property
    def breached_at(self) -> datetime | None: ...
    @property
    def converted_to(self) -> str | None: ...


def _as_stored(column: Any) -> Any:
    """A timestamp column read as the database hands it over (see iso_utc)."""
    column = col(column)
    return type_coerce(column, String).label(column.key)


# Lists select only these columns (no ORM objects to build, nothing sealed to carry),
# in this order: summary_of_row reads them by position. A queue lists hundreds of
# consults: the timestamps skip the datetime round trip (iso_utc), and the two flags
# are computed by the database.
SUMMARY_COLUMNS: tuple[Any, ...] = (
    col(Consult.id), col(Consult.state), col(Consult.specialty), col(Consult.urgency),
    col(Consult.assigned_to), _as_stored(Consult.respond_due_at),
    _as_stored(Consult.ack_due_at), _as_stored(Consult.submitted_at),
    _as_stored(Consult.updated_at), col(Consult.at_risk_at).is_not(None).label("at_risk"),
    col(Consult.breached_at).is_not(None).label("breached"), col(Consult.converted_to),
)
_N = len(SUMMARY_COLUMNS)


def iso_utc(value: str | datetime | None) -> str | None:
    """ISO 8601 text of a stored UTC timestamp, exactly as `datetime.isoformat()` gives
    it for the aware value. SQLite keeps SQLAlchemy's naive UTC text
    ("YYYY-MM-DD HH:MM:SS.ffffff"), rewritten here without parsing; PostgreSQL hands
    over datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            if value.endswith(".000000"):  # isoformat leaves out a zero fraction
                return f"{value[:10]}T{value[11:19]}+00:00"
            return f"{value[:10]}T{value[11:]}+00:00"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _values(consult: SummaryFields) -> tuple[Any, ...]:
    return (consult.id, consult.state, consult.specialty, consult.urgency,
            consult.assigned_to, consult.respond_due_at, consult.ack_due_at,
            consult.submitted_at, consult.updated_at, consult.at_risk_at is not None,
            consult.breached_at is not None, consult.converted_to)


_Fields = tuple[str, str, str, str, int | None, str | None, str | None, str, str, bool, bool,
                str | None]


def _fields(row: Sequence[Any]) -> _Fields:
    (id_, state, specialty, urgency, assigned_to, due, ack_due, submitted, updated, at_risk,
     breached, converted) = row[:_N]
    return (id_, state, specialty, urgency, assigned_to, iso_utc(due), iso_utc(ack_due),
            iso_utc(submitted) or "", iso_utc(updated) or "", bool(at_risk), bool(breached),
            converted)


def summary_of(consult: SummaryFields) -> ConsultSummary:
    return ConsultSummary(*_fields(_values(consult)))


def submitted_of(consult: SummaryFields, images: list[ImagePublic],
                 attachments: list[AttachmentPublic] | None = None) -> SubmittedConsult:
    return SubmittedConsult(*_fields(_values(consult)), images, attachments or [])


def summary_of_row(row: Sequence[Any]) -> ConsultSummary:
    """The summary from a row of SUMMARY_COLUMNS. A queue lists hundreds: positions are
    several times cheaper to read than a Row's attributes."""
    return ConsultSummary(*_fields(row))


# After SUMMARY_COLUMNS in a clinician's list row (then the sealed patient name).
LIST_PEOPLE_COLUMNS: tuple[Any, ...] = (col(Consult.gp_id), col(Consult.submitted_by))


def list_item_of_row(row: Sequence[Any], patient_name: str) -> ClinicalListItem:
    return ClinicalListItem(*_fields(row), patient_name, row[_N], row[_N + 1])
