"""The audit chain's status for the review page, without rehashing the whole log on
every view.

A full verification (`security.audit.verify`) costs about 0.1 ms a row (measured: 100,000
rows in ~9-13 s on this machine), and the log gains rows with every view of a consult.
So the monitor keeps the point up to which the chain was found intact, checks only the
rows after it on each view (a few, usually), and runs the full verification again in
the background once FULL_EVERY has passed, so an edit to an old row is found within
that time. `econsult audit verify` remains the definitive check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent, AuditHead
from econsult.security import audit, audit_checkpoints
from econsult.security.audit import VerifyResult

logger = logging.getLogger(__name__)
FULL_EVERY = timedelta(hours=1)
# Up to this many rows, the first look after a start checks the chain before answering
# (about a second); a longer log is checked in the background while the page says so.
INLINE_ROWS = 10_000
_BATCH = 5000


@dataclass(frozen=True)
class ChainStatus:
    result: VerifyResult | None  # None: the first full check is still running
    full_check_at: datetime | None  # when the whole chain was last rehashed
    full_check_running: bool


@dataclass(frozen=True)
class _Intact:
    last_id: int
    last_hash: str
    rows: int


class ChainMonitor:
    def __init__(self, *, full_every: timedelta = FULL_EVERY,
                 checkpoints: Path | None = None) -> None:
        self.full_every = full_every
        self.checkpoints = checkpoints
        self._intact: _Intact | None = None
        self._broken: VerifyResult | None = None
        self._full_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def status(self, database: Database, now: datetime) -> ChainStatus:
        async with self._lock:
            if self._intact is None and self._broken is None:
                # The first look: nothing to build on.
                if await _size(database) <= INLINE_ROWS:
                    await self._full(database, now)
            elif self._broken is None:
                await self._since_intact(database)
            due = self._full_at is None or now - self._full_at >= self.full_every
            if due and (self._task is None or self._task.done()):
                self._task = asyncio.create_task(self._full_locked(database, now),
                                                 name="audit-chain-full-check")
            result = self._broken or (VerifyResult(True, self._intact.rows)
                                      if self._intact else None)
            return ChainStatus(result, self._full_at,
                               self._task is not None and not self._task.done())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _full_locked(self, database: Database, now: datetime) -> None:
        """The background full check: looks meanwhile go on checking new rows."""
        try:
            result, head = await self._verified(database)
            async with self._lock:
                self._apply(result, head, now)
        except Exception:  # the page keeps the last result; the next look retries
            logger.exception("audit chain check failed")

    async def _full(self, database: Database, now: datetime) -> None:
        self._apply(*await self._verified(database), now)

    async def _verified(self, database: Database) -> tuple[VerifyResult, AuditHead | None]:
        result, head = await self._verify(database)
        if not result.ok:
            # Once more before saying so: on PostgreSQL a row committed while the check
            # read can look like a moved head.
            result, head = await self._verify(database)
        return result, head

    def _apply(self, result: VerifyResult, head: AuditHead | None, now: datetime) -> None:
        self._full_at = now
        if result.ok:
            self._broken = None
            self._intact = _Intact(head.last_id if head else 0,
                                   head.last_hash if head else audit.GENESIS, result.rows)
        else:
            self._broken = result

    async def _verify(self, database: Database) -> tuple[VerifyResult, AuditHead | None]:
        keyring = audit.database_keyring(database)
        try:
            checkpoints = (audit_checkpoints.read(self.checkpoints, keyring)
                           if self.checkpoints else [])
        except audit_checkpoints.CheckpointError as exc:
            return VerifyResult(False, 0, None, str(exc)), None
        async with database.read() as db:
            result = await audit.verify(db, checkpoints, keyring)
            head = (await db.execute(select(AuditHead))).scalar_one_or_none()
        return result, head

    async def _since_intact(self, database: Database) -> None:
        """Rows after the intact point must chain on from it, and end at the head."""
        assert self._intact is not None
        point = self._intact
        keyring = audit.database_keyring(database)
        async with database.read() as db:
            head = (await db.execute(select(AuditHead))).scalar_one_or_none()
            if head is None or (head.last_id, head.last_hash) == (point.last_id,
                                                                  point.last_hash):
                return
            prev, last_id, rows = point.last_hash, point.last_id, point.rows
            while True:
                # Up to the head read above: rows committed since then wait for the
                # next look.
                batch = (await db.execute(select(AuditEvent).where(
                    col(AuditEvent.id) > last_id, col(AuditEvent.id) <= head.last_id)
                    .order_by(col(AuditEvent.id)).limit(_BATCH))).scalars().all()
                if not batch:
                    break
                for row in batch:
                    rows += 1
                    why = audit.check_row(keyring, prev, row)
                    if why:
                        self._broken = VerifyResult(False, rows, row.id, why)
                        return
                    prev, last_id = row.hash, row.id or last_id
        if (head.last_id, head.last_hash) != (last_id, prev):
            self._broken = VerifyResult(False, rows, head.last_id or last_id,
                                        "the newest rows were removed or the head was altered")
            return
        why = audit.check_head(keyring, head)
        if why:
            self._broken = VerifyResult(False, rows, head.last_id, f"the head: {why}")
            return
        self._intact = _Intact(last_id, prev, rows)


async def _size(database: Database) -> int:
    async with database.read() as db:
        head = (await db.execute(select(AuditHead))).scalar_one_or_none()
    return head.last_id if head else 0
