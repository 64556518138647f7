"""Many consults fast, for list and paging tests: rows as submit writes them (sealed
fields, blind-index tokens from the same function submit uses), inserted in bulk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert

from econsult.consults.search import token_rows
from econsult.db import Database
from econsult.models import Consult, ConsultSearchToken
from econsult.security.fields import FieldCipher

FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie")
LAST = ("Nguyen", "Smith", "Singh", "Tremblay", "Li", "Brown", "Martin", "Wong")
# A cycle of states, so filters and "needs your action" have something to sort.
STATES = ("assigned", "in_review", "awaiting_gp", "answered", "closed", "closed", "closed",
          "cancelled", "pooled", "closed")


@dataclass(frozen=True)
class Made:
    id: str
    state: str
    patient_name: str
    health_number: str
    submitted_at: datetime


def health_number(i: int) -> str:
    return f"7{i:09d}"


async def bulk_consults(db: Database, cipher: FieldCipher, *, gp_id: int, specialist_id: int,
                        n: int, start: datetime, specialty: str = "dermatology",
                        first: int = 0) -> list[Made]:
    """`n` consults of one GP, the newest at `start`, one a minute before it; every
    tenth pair shares a submission time (the cursor must break ties)."""
    rows, tokens, made = [], [], []
    for k in range(n):
        i = first + k
        cid = str(uuid.uuid4())
        state = STATES[i % len(STATES)]
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
        number = health_number(i)
        at = start - timedelta(minutes=i - (1 if i % 10 == 1 else 0))
        seal = cipher.seal
        rows.append({
            "id": cid, "gp_id": gp_id, "submitted_by": gp_id, "specialty": specialty,
            "urgency": "routine", "state": state,
            "assigned_to": None if state == "pooled" else specialist_id,
            "idempotency_key": None, "submitted_at": at, "updated_at": at,
            "patient_name": seal("consults", "patient_name", cid, name),
            "patient_dob": seal("consults", "patient_dob", cid, "1960-03-04"),
            "patient_health_number": seal("consults", "patient_health_number", cid, number),
            "question": seal("consults", "question", cid, f"Bulk consult number {i}: advice?"),
            "clinical_details": None, "ack_due_at": None,
            "respond_due_at": (at + timedelta(days=3)
                               if state in ("assigned", "in_review", "pooled") else None),
            "at_risk_due_at": None, "escalation_tried": "[]", "escalations": 0,
            "reroutes": 0, "paused_seconds": 0.0,
            "answered_at": at + timedelta(hours=1) if state in ("answered", "closed") else None,
            "closed_at": at + timedelta(hours=2) if state == "closed" else None,
        })
        tokens.extend(token_rows(cipher.keyring, cid, name=name, health_number=number))
        made.append(Made(cid, state, name, number, at))
    async with db.write() as session:
        await session.execute(insert(Consult.__table__), rows)  # type: ignore[attr-defined]
        await session.execute(insert(ConsultSearchToken), tokens)
    return made
