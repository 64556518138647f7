"""The audit chain's keys and checkpoints, as operations.

- `checkpoint`: sign the head and append it to `audit-checkpoints` (the CLI, and the
  server on a schedule). It first checks the rows since the previous checkpoint
  (chain, MACs, the head), so a checkpoint never vouches for a tampered tail.
- `key_legacy_chain`: rows written before the chain was keyed (migration 0012) get
  their MACs at `econsult migrate`, but only once the old, unkeyed chain has verified
  intact: a chain already broken stays unkeyed, and `audit verify` says so.
- `rekey_audit` / `count_audit`: key rotation (`keys rotate` re-MACs rows and re-signs
  checkpoints under the active KEK; `keys retire` counts what a KEK still keys).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.errors import Conflict
from econsult.models import AuditEvent, AuditHead
from econsult.security import audit, audit_checkpoints
from econsult.security.audit import GENESIS, Actor, VerifyResult
from econsult.security.audit_checkpoints import Checkpoint
from econsult.security.keyring import Keyring

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
_BATCH = 2000
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]


def checkpoints_path(settings: Settings) -> Path:
    return settings.data_dir / audit_checkpoints.FILE_NAME


class ChainBroken(Conflict):
    def __init__(self, result: VerifyResult) -> None:
        self.result = result
        super().__init__(f"audit chain BROKEN at entry {result.broken_id}: {result.reason}",
                         code="audit_chain_broken")


async def verify(db: Database, settings: Settings) -> VerifyResult:
    """The definitive check: the whole chain against every checkpoint."""
    keyring = audit.database_keyring(db)
    try:
        checkpoints = audit_checkpoints.read(checkpoints_path(settings), keyring)
    except audit_checkpoints.CheckpointError as exc:
        return VerifyResult(False, 0, None, str(exc))
    async with db.read() as session:
        return await audit.verify(session, checkpoints, keyring)


async def checkpoint(db: Database, settings: Settings, now: datetime, *,
                     only_if_moved: bool = False) -> Checkpoint | None:
    """Sign the head and append it; None when `only_if_moved` and nothing was added
    since the previous checkpoint. Raises ChainBroken rather than sign a bad tail."""
    keyring = audit.database_keyring(db)
    path = checkpoints_path(settings)
    previous = audit_checkpoints.read(path, keyring)
    last = max(previous, key=lambda c: c.count, default=None)
    async with db.read() as session:
        head = (await session.execute(select(AuditHead))).scalar_one_or_none()
        if head is None:
            if last is not None:
                raise ChainBroken(VerifyResult(False, 0, 1, "the log is empty but a "
                                               f"checkpoint recorded {last.count} entries"))
            if only_if_moved:
                return None
            count, last_id, last_hash = 0, 0, GENESIS
        else:
            if last is not None and only_if_moved and (head.last_id, head.last_hash) == (
                    last.last_id, last.last_hash):
                return None
            count, last_id, last_hash = await _check_since(session, keyring, last, head)
    made = audit_checkpoints.sign(keyring, at=now.astimezone(UTC), count=count,
                                  last_id=last_id, last_hash=last_hash)
    await asyncio.to_thread(audit_checkpoints.append, path, made)
    return made


async def _check_since(session: AsyncSession, keyring: Keyring, last: Checkpoint | None,
                       head: AuditHead) -> tuple[int, int, str]:
    prev, count, last_id = GENESIS, 0, 0
    if last is not None:
        anchor = await session.get(AuditEvent, last.last_id) if last.last_id else None
        if last.count and (anchor is None or anchor.hash != last.last_hash):
            raise ChainBroken(VerifyResult(False, last.count, last.last_id, "the entry the "
                                           "newest checkpoint ends at is gone or altered"))
        prev, count, last_id = last.last_hash, last.count, last.last_id
    while True:
        rows = (await session.execute(
            select(AuditEvent).where(col(AuditEvent.id) > last_id,
                                     col(AuditEvent.id) <= head.last_id)
            .order_by(col(AuditEvent.id)).limit(_BATCH))).scalars().all()
        if not rows:
            break
        for row in rows:
            count += 1
            why = audit.check_row(keyring, prev, row)
            if why:
                raise ChainBroken(VerifyResult(False, count, row.id, why))
            prev, last_id = row.hash, row.id or last_id
    if (head.last_id, head.last_hash) != (last_id, prev):
        raise ChainBroken(VerifyResult(False, count, head.last_id or last_id,
                                       "the newest rows were removed or the head was altered"))
    why = audit.check_head(keyring, head)
    if why:
        raise ChainBroken(VerifyResult(False, count, head.last_id, f"the head: {why}"))
    return count, last_id, prev


async def run_checkpoints(db: Database, settings: Settings, clock: Clock,
                          interval_seconds: float) -> None:
    """The server's schedule: a checkpoint every interval once the log has moved."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            made = await checkpoint(db, settings, clock.now(), only_if_moved=True)
        except ChainBroken as exc:
            log.error("audit checkpoint refused: %s", exc)
        except Exception:  # the next interval tries again
            log.exception("audit checkpoint failed")
        else:
            if made is not None:
                log.info("audit checkpoint: %s", made.line())


# --- keying: legacy rows, rotation ------------------------------------------------------


def _rekey_rows(conn: Connection, keyring: Keyring, *, legacy: bool) -> int:
    """MAC every row not keyed by the active KEK (legacy: rows with no MAC at all, after
    checking the unkeyed chain; rotation: rows whose old MAC checks out), and the head.
    One transaction; on PostgreSQL the head is locked so no append interleaves."""
    kek = keyring.active
    read_head = select(_HEAD).where(_HEAD.c.id == 1)
    head = conn.execute(read_head.with_for_update() if conn.dialect.name == "postgresql"
                        else read_head).one_or_none()
    prev, last_id, changed = GENESIS, 0, 0
    while True:
        rows = conn.execute(select(_EVENTS).where(_EVENTS.c.id > last_id)
                            .order_by(_EVENTS.c.id).limit(_BATCH)).all()
        if not rows:
            break
        for row in rows:
            event = AuditEvent.model_validate(dict(row._mapping))
            if event.prev_hash != prev or audit.row_hash(prev, event) != event.hash:
                raise ChainBroken(VerifyResult(False, 0, event.id, "the chain does not "
                                               "verify, so it was not (re)keyed"))
            if event.mac_kek != kek.id:
                if not legacy or event.mac:
                    why = audit.check_row(keyring, prev, event)
                    if why:
                        raise ChainBroken(VerifyResult(False, 0, event.id, why))
                conn.execute(update(_EVENTS).where(_EVENTS.c.id == event.id).values(
                    mac=audit.row_mac(kek, event.hash), mac_kek=kek.id))
                changed += 1
            prev, last_id = event.hash, int(event.id or 0)
    if head is not None:
        if (head.last_id, head.last_hash) != (last_id, prev):
            raise ChainBroken(VerifyResult(False, 0, head.last_id, "the head does not match "
                                           "the newest row, so the chain was not (re)keyed"))
        if head.mac_kek != kek.id:
            conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(
                mac=audit.head_mac(kek, last_id, prev), mac_kek=kek.id))
    return changed


async def key_legacy_chain(db: Database, settings: Settings, now: datetime) -> int:
    """At `econsult migrate`: MAC the rows written before the chain was keyed, then
    write a checkpoint. Returns how many rows; 0 when there are none.

    Only a chain that was never keyed is keyed: once any row carries a MAC, or any
    checkpoint exists, rows without a MAC are tampering (someone blanked them hoping the
    next migrate would bless a rewritten chain), and are left for `audit verify` to
    name. A legacy chain that does not verify is left as it is too (logged)."""
    async with db.read() as session:
        unkeyed = (await session.execute(select(func.count()).select_from(AuditEvent)
                                         .where(col(AuditEvent.mac) == ""))).scalar_one()
        keyed = (await session.execute(select(func.count()).select_from(AuditEvent)
                                       .where(col(AuditEvent.mac) != ""))).scalar_one()
    if not unkeyed:
        return 0
    if keyed or checkpoints_path(settings).exists():
        log.error("%s audit rows carry no MAC in a chain that was already keyed: not "
                  "keying them (run `econsult audit verify`)", unkeyed)
        return 0
    keyring = audit.database_keyring(db)
    try:
        changed = await db.run_write(lambda conn: _rekey_rows(conn, keyring, legacy=True))
    except ChainBroken as exc:
        log.error("the audit chain was not keyed: %s", exc)
        return 0
    async with db.write() as session:
        await audit.append(session, actor=Actor(None, "cli"), action="audit.chain_keyed",
                           at=now, detail=f"rows={changed}")
    await checkpoint(db, settings, now)
    return changed


async def rekey_audit(db: Database, keyring: Keyring, settings: Settings,
                      progress: Progress = lambda done, total: None) -> int:
    """Rotation: rows and head re-MACed, checkpoints re-signed, under the active KEK."""
    audit.attach(db, keyring)
    changed = await db.run_write(lambda conn: _rekey_rows(conn, keyring, legacy=False))
    path = checkpoints_path(settings)
    checkpoints = audit_checkpoints.read(path, keyring)
    if any(c.kek != keyring.active_id for c in checkpoints):
        resigned = [audit_checkpoints.resign(keyring, c) for c in checkpoints]
        await asyncio.to_thread(audit_checkpoints.rewrite, path, resigned)
        changed += len(checkpoints)
    progress(changed, changed)
    return changed


async def count_audit(db: Database, kek_id: str, settings: Settings) -> int:
    """What KEK `kek_id` still keys: audit rows, the head, checkpoints."""
    async with db.read() as session:
        rows = (await session.execute(select(func.count()).select_from(AuditEvent)
                                      .where(col(AuditEvent.mac_kek) == kek_id))).scalar_one()
        head = (await session.execute(select(func.count()).select_from(AuditHead)
                                      .where(col(AuditHead.mac_kek) == kek_id))).scalar_one()
    path = checkpoints_path(settings)
    try:
        cps: Sequence[Checkpoint] = audit_checkpoints.parse(path.read_text())
    except FileNotFoundError:
        cps = []
    return int(rows) + int(head) + sum(1 for c in cps if c.kek == kek_id)
