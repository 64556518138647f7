"""What the API and pages show of a consult: non-clinical summaries, and the full
detail (decrypted) for the people allowed to see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def summary_of(consult: Consult, *, images: list[dict[str, Any]] | None = None) -> ConsultSummary:
    summary = ConsultSummary(
        id=consult.id,
        state=consult.state,
        specialty=consult.specialty,
        urgency=consult.urgency,
        assigned_to=consult.assigned_to,
        due_at=_iso(consult.respond_due_at),
        ack_due_at=_iso(consult.ack_due_at),
        submitted_at=consult.submitted_at.isoformat(),
        updated_at=consult.updated_at.isoformat(),
        at_risk=consult.at_risk_at is not None,
        breached=consult.breached_at is not None,
        converted_to=consult.converted_to,
    )
    if images is not None:
        summary["images"] = images
    return summary
