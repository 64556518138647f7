"""What the API and pages show of a consult: non-clinical summaries, and the full
detail (decrypted) for the people allowed to see it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict

from sqlmodel import col

from econsult.models import Consult


class ConsultSummary(TypedDict, total=False):
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
    images: list[dict[str, Any]]
    patient_name: str


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


# Lists select only these columns (no ORM objects to build, nothing sealed to carry),
# in this order: summary_of_row reads them by position.
SUMMARY_COLUMNS = tuple(col(c) for c in (
    Consult.id, Consult.state, Consult.specialty, Consult.urgency, Consult.assigned_to,
    Consult.respond_due_at, Consult.ack_due_at, Consult.submitted_at, Consult.updated_at,
    Consult.at_risk_at, Consult.breached_at, Consult.converted_to,
))


def summary_of(consult: SummaryFields, *,
               images: list[dict[str, Any]] | None = None) -> ConsultSummary:
    due, ack_due = consult.respond_due_at, consult.ack_due_at
    summary: ConsultSummary = {
        "id": consult.id,
        "state": consult.state,
        "specialty": consult.specialty,
        "urgency": consult.urgency,
        "assigned_to": consult.assigned_to,
        "due_at": due.isoformat() if due else None,
        "ack_due_at": ack_due.isoformat() if ack_due else None,
        "submitted_at": consult.submitted_at.isoformat(),
        "updated_at": consult.updated_at.isoformat(),
        "at_risk": consult.at_risk_at is not None,
        "breached": consult.breached_at is not None,
        "converted_to": consult.converted_to,
    }
    if images is not None:
        summary["images"] = images
    return summary


def summary_of_row(row: Sequence[Any]) -> ConsultSummary:
    """The summary from a row of SUMMARY_COLUMNS (a queue lists hundreds: positions are
    several times cheaper to read than a Row's attributes)."""
    (id_, state, specialty, urgency, assigned_to, due, ack_due, submitted, updated, at_risk,
     breached, converted) = row[:12]
    return {
        "id": id_,
        "state": state,
        "specialty": specialty,
        "urgency": urgency,
        "assigned_to": assigned_to,
        "due_at": due.isoformat() if due else None,
        "ack_due_at": ack_due.isoformat() if ack_due else None,
        "submitted_at": submitted.isoformat(),
        "updated_at": updated.isoformat(),
        "at_risk": at_risk is not None,
        "breached": breached is not None,
        "converted_to": converted,
    }
