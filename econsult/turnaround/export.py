"""De-identified CSV exports, streamed: one row per consult, a million rows in constant memory.

Only timestamps, codes and numbers leave: the consult id (a random UUID, meaningless
outside the program), specialty, urgency, state, the turnaround columns and the GP's
survey scores. No patient field, question, message or comment is ever selected, so
none can reach a file by accident.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import Consult
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.turnaround.filters import Filters, where_of

BATCH = 5000
_C = Consult
# (CSV header, column); the header names are the contract.
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("consult_id", _C.id),
    ("specialty", _C.specialty),
    ("urgency", _C.urgency),
    ("state", _C.state),
    ("submitted_at", _C.submitted_at),
    ("acknowledged_at", _C.acknowledged_at),
    ("first_response_at", _C.first_response_at),
    ("answered_at", _C.answered_at),
    ("closed_at", _C.closed_at),
    ("cancelled_at", _C.cancelled_at),
    ("seconds_to_answer", _C.seconds_to_answer),
    ("target_seconds_to_answer", _C.target_seconds),
    ("within_target", _C.within_target),
    ("at_risk_at", _C.at_risk_at),
    ("breached_at", _C.breached_at),
    ("escalations", _C.escalations),
    ("reroutes", _C.reroutes),
    ("outcome", _C.outcome),
    ("usefulness", _C.usefulness),
)
HEADER = tuple(name for name, _ in COLUMNS)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): =HYPERLINK(...) in a name would run when staff open the export.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """Text a spreadsheet shows as text: a leading formula character is escaped with a
    single quote, as OWASP recommends."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def cell(value: object) -> object:
    """CSV text of one value: ISO 8601 UTC times, true/false, floats that round-trip,
    and text that cannot be run as a formula (numbers stay numbers, negative ones too)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return value
    return safe_text(str(value))


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()


async def consult_rows(db: Database, filters: Filters, *,
                       batch: int = BATCH) -> AsyncIterator[str]:
    """The CSV, header first, in chunks of `batch` rows, oldest submission first.

    One read transaction (a consistent snapshot) streamed through a server-side cursor,
    so memory stays flat whatever the row count.
    """
    yield csv_text([HEADER])
    stmt = (
        select(*(col(column) for _, column in COLUMNS))
        .where(*where_of(filters))
        .order_by(col(Consult.submitted_at), col(Consult.id))
        .execution_options(yield_per=batch)
    )
    async with db.read() as session:
        result = await session.stream(stmt)
        async for part in result.partitions(batch):
            yield csv_text(part)


async def record_export(db: Database, *, actor: Actor, at: datetime, what: str,
                        filters: Filters) -> None:
    """Audit an export before it starts streaming: who took which rows, and when."""
    detail = " ".join(f"{k}={v}" for k, v in filters.query().items())
    async with db.write() as session:
        await audit.append(session, actor=actor, action="turnaround.export", at=at,
                           object_type=what, detail=detail)
