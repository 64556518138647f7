"""The audit chain: append-only rows, each carrying the hash of the one before.

Editing a row changes its hash; deleting one breaks the next row's link; deleting
rows at the end is caught by the head row kept in the same transaction. Rows hold
ids and codes, never patient data, so the log itself can be reviewed by staff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import AuditEvent, AuditHead

GENESIS = "0" * 64
_CHAINED_FIELDS = (
    "at", "actor_id", "actor_email", "action", "object_type", "object_id",
    "client_addr", "outcome", "detail",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    id: int | None
    email: str
    client_addr: str = ""


SYSTEM = Actor(id=None, email="system")


def row_hash(prev_hash: str, event: AuditEvent) -> str:
    fields = {name: getattr(event, name) for name in _CHAINED_FIELDS}
    fields["at"] = event.at.isoformat(timespec="microseconds")
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev_hash.encode() + b"\n" + payload.encode()).hexdigest()


async def append(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    at: datetime,
    object_type: str = "",
    object_id: str = "",
    outcome: str = "ok",
    detail: str = "",
) -> AuditEvent:
    """Append one row inside the caller's write transaction."""
    head_query = select(AuditHead).where(col(AuditHead.id) == 1)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Serialise appenders: two transactions must never chain onto the same row.
        head_query = head_query.with_for_update()
    head = (await session.execute(head_query)).scalar_one_or_none()
    prev = head.last_hash if head else GENESIS
    event = AuditEvent(
        at=at.astimezone(UTC),
        actor_id=actor.id,
        actor_email=actor.email,
        action=action,
        object_type=object_type,
        object_id=object_id,
        client_addr=actor.client_addr[:64],
        outcome=outcome,
        detail=detail[:500],
        prev_hash=prev,
        hash="",
    )
    event.hash = row_hash(prev, event)
    session.add(event)
    await session.flush()
    if head is None:
        session.add(AuditHead(id=1, last_id=event.id or 0, last_hash=event.hash))
    else:
        await session.execute(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(last_id=event.id, last_hash=event.hash)
        )
    return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    broken_id: int | None = None
    reason: str = ""


async def _rows(session: AsyncSession, batch: int = 5000) -> AsyncIterator[AuditEvent]:
    last = 0
    while True:
        result = await session.execute(
            select(AuditEvent)
            .where(col(AuditEvent.id) > last)
            .order_by(col(AuditEvent.id))
            .limit(batch)
        )
        rows = result.scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].id or last


async def verify(session: AsyncSession) -> VerifyResult:
    prev, count, last_id = GENESIS, 0, 0
    async for row in _rows(session):
        count += 1
        if row.prev_hash != prev:
            return VerifyResult(False, count, row.id, "does not follow the row before it "
                                "(a row before it was deleted or altered)")
        if row_hash(prev, row) != row.hash:
            return VerifyResult(False, count, row.id, "its contents were altered")
        prev, last_id = row.hash, row.id or 0
    head = (await session.execute(select(AuditHead))).scalar_one_or_none()
    if head is None and count == 0:
        return VerifyResult(True, 0)
    if head is None or head.last_hash != prev or head.last_id != last_id:
        broken = (head.last_id if head else None) or last_id
        return VerifyResult(False, count, broken, "the newest rows were removed or the head "
                            "was altered")
    return VerifyResult(True, count)
