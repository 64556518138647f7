"""The audit chain: append-only rows, each carrying the hash of the one before.

Editing a row changes its hash; deleting one breaks the next row's link; deleting
rows at the end is caught by the head row kept in the same transaction. Rows hold
ids and codes, never patient data, so the log itself can be reviewed by staff.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
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
    return _hash_fields(prev_hash, {name: getattr(event, name) for name in _CHAINED_FIELDS})


def _hash_fields(prev_hash: str, values: Mapping[str, Any]) -> str:
    fields = {name: values[name] for name in _CHAINED_FIELDS}
    fields["at"] = values["at"].isoformat(timespec="microseconds")
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(prev_hash.encode() + b"\n" + payload.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One thing to record: who did what to which object, when, and how it went."""

    actor: Actor
    action: str
    at: datetime
    object_type: str = ""
    object_id: str = ""
    outcome: str = "ok"
    detail: str = ""


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
) -> None:
    """Append one row inside the caller's write transaction."""
    entry = Entry(actor, action, at, object_type, object_id, outcome, detail)
    await append_many(session, [entry])


async def append_many(session: AsyncSession, entries: Sequence[Entry]) -> None:
    """Append rows, in order, inside the caller's write transaction."""
    await session.run_sync(lambda sync_session: append_rows(sync_session.connection(), entries))


_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
# Built once: every view of a consult appends through these.
_READ_HEAD = select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == 1)
# Serialise appenders on PostgreSQL: two transactions must never chain onto the same row.
_LOCK_HEAD = _READ_HEAD.with_for_update()
_INSERT_ROWS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_CREATE_HEAD = insert(_HEAD)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1)


def append_rows(conn: Connection, entries: Sequence[Entry]) -> list[int]:
    """The chain's one writer routine, in Core on a synchronous connection (inside the
    caller's transaction): read the head, insert the rows, move the head. Returns the
    new rows' ids."""
    if not entries:
        return []
    head = conn.execute(_LOCK_HEAD if conn.dialect.name == "postgresql" else _READ_HEAD
                        ).one_or_none()
    prev = head.last_hash if head else GENESIS
    rows = []
    for entry in entries:
        row = {
            "at": entry.at.astimezone(UTC),
            "actor_id": entry.actor.id,
            "actor_email": entry.actor.email,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "client_addr": entry.actor.client_addr[:64],
            "outcome": entry.outcome,
            "detail": entry.detail[:500],
            "prev_hash": prev,
        }
        row["hash"] = prev = _hash_fields(str(row["prev_hash"]), row)
        rows.append(row)
    ids = [int(i) for i in conn.execute(_INSERT_ROWS, rows).scalars()]
    if head is None:
        conn.execute(_CREATE_HEAD, {"id": 1, "last_id": ids[-1], "last_hash": prev})
    else:
        conn.execute(_MOVE_HEAD, {"last_id": ids[-1], "last_hash": prev})
    return ids


class GroupRecorder:
    """Records entries that need a transaction of their own (a list or a thread viewed,
    a photo opened), several requests' entries to a commit.

    The caller waits until its entry is committed, so nothing is shown that the log
    does not hold; while one commit is under way the next entries gather, and go in
    the next one. On SQLite's single writer that turns a write transaction per
    request into one per burst."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Entry, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, *, actor: Actor, action: str, at: datetime, object_type: str = "",
                     object_id: str = "", outcome: str = "ok", detail: str = "") -> None:
        """Append one row in a transaction of its own (group-committed with concurrent
        ones); returns once it is committed."""
        await self.record_entry(Entry(actor, action, at, object_type, object_id, outcome,
                                      detail))

    async def record_entry(self, entry: Entry) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a client that goes away must not cancel the commit of others.
        await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            # The commit may run right here on the loop (Database.run_write): first let
            # the requests already under way reach their record() and join this batch.
            await asyncio.sleep(0)
            batch, self._pending = self._pending, []
            try:
                entries = [entry for entry, _ in batch]
                await self._db.run_write(functools.partial(append_rows, entries=entries))
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


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
