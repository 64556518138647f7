"""What the API and pages show of a consult: non-clinical summaries, and the full
detail (decrypted) for the people allowed to see it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict

from sqlalchemy import String, type_coerce
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


def summary_of(consult: SummaryFields, *,
               images: list[dict[str, Any]] | None = None) -> ConsultSummary:
    summary = summary_of_row((
        consult.id, consult.state, consult.specialty, consult.urgency, consult.assigned_to,
        consult.respond_due_at, consult.ack_due_at, consult.submitted_at, consult.updated_at,
        consult.at_risk_at is not None, consult.breached_at is not None, consult.converted_to,
    ))
    if images is not None:
        summary["images"] = images
    return summary


def summary_of_row(row: Sequence[Any]) -> ConsultSummary:
    """The summary from a row of SUMMARY_COLUMNS, or the same values taken from a
    Consult (summary_of). A queue lists hundreds: positions are several times cheaper
    to read than a Row's attributes."""
    (id_, state, specialty, urgency, assigned_to, due, ack_due, submitted, updated, at_risk,
     breached, converted) = row[:12]
    return {
        "id": id_,
        "state": state,
        "specialty": specialty,
        "urgency": urgency,
        "assigned_to": assigned_to,
        "due_at": iso_utc(due),
        "ack_due_at": iso_utc(ack_due),
        "submitted_at": iso_utc(submitted) or "",
        "updated_at": iso_utc(updated) or "",
        "at_risk": bool(at_risk),
        "breached": bool(breached),
        "converted_to": converted,
    }
