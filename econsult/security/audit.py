"""The audit chain: append-only rows, each carrying the hash of the one before, and a
MAC keyed from the keyring.

Editing a row changes its hash; deleting one breaks the next row's link; deleting
rows at the end is caught by the head row kept in the same transaction. The hashes
alone only stop someone who cannot recompute them, and the database's owner can; so
each row's hash, and the head, also carry an HMAC under a key derived from a KEK
(`mac_kek` names which), and the keyring lives outside the database. A rewritten
row, or a head rewound to an earlier row, has no valid MAC. What a MAC cannot show
(the newest rows deleted together with the head row, or the whole log wiped) the
signed checkpoints outside the database do (`security/audit_checkpoints.py`):
`verify` checks the chain against every one of them.

Rows hold ids and codes, never patient data, so the log itself can be reviewed by staff.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
from econsult.db.engines import connection_context
from econsult.db.precompiled import Precompiled, PrecompiledQuery
from econsult.models import AuditEvent, AuditHead
from econsult.security.audit_checkpoints import Checkpoint
from econsult.security.keyring import Kek, Keyring, KeyringError, load_keyring

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


# --- the MAC ----------------------------------------------------------------------

_ROW_LABEL = b"econsult audit chain row v1"
_HEAD_LABEL = b"econsult audit chain head v1"


@functools.lru_cache(maxsize=16)
def _mac_key(kek: Kek, label: bytes) -> bytes:
    return hmac.new(kek.key, label, hashlib.sha256).digest()


def row_mac(kek: Kek, row_hash_value: str) -> str:
    return hmac.new(_mac_key(kek, _ROW_LABEL), row_hash_value.encode(),
                    hashlib.sha256).hexdigest()


def head_mac(kek: Kek, last_id: int, last_hash: str) -> str:
    return hmac.new(_mac_key(kek, _HEAD_LABEL), f"{last_id}\n{last_hash}".encode(),
                    hashlib.sha256).hexdigest()


def _mac_ok(keyring: Keyring, kek_id: str, expected: str, make: Callable[[Kek], str]) -> str:
    """"" if `expected` is the MAC `make(kek)` gives under KEK `kek_id`, else why not."""
    if not expected or not kek_id:
        return "it carries no MAC (written before the chain was keyed: run `econsult migrate`)"
    try:
        kek = keyring.get(kek_id)
    except KeyringError:
        return f"its MAC is under KEK {kek_id}, which is not in the keyring"
    if not hmac.compare_digest(make(kek), expected):
        return "its MAC does not match (it was rewritten without the key)"
    return ""


def attach(db: Database, keyring: Keyring) -> None:
    """Key this database's audit chain with `keyring` (the one the process holds, so a
    rotation picked up by the key-file watcher applies to the next row)."""
    db.context["keyring"] = keyring


def keyring_of(context: dict[str, Any]) -> Keyring:
    """The keyring a Database was attached to, else the one its settings name (loaded
    once)."""
    keyring: Keyring | None = context.get("keyring")
    if keyring is None:
        settings = context.get("settings")
        if settings is None:
            raise KeyringError("the audit chain has no keyring: call audit.attach(db, keyring)")
        keyring = context["keyring"] = load_keyring(settings.master_key, settings.key_file)
    return keyring


def database_keyring(db: Database) -> Keyring:
    return keyring_of(db.context)


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
_READ_HEAD_SQLITE = PrecompiledQuery(_READ_HEAD)
_INSERT_ROW_SQLITE = Precompiled(insert(_EVENTS))
_MOVE_HEAD_SQLITE = Precompiled(_MOVE_HEAD)


def append_rows(conn: Connection, entries: Sequence[Entry]) -> list[int]:
    """The chain's one writer routine, in Core on a synchronous connection (inside the
    caller's transaction): read the head, insert the rows, move the head. Returns the
    new rows' ids."""
    if not entries:
        return []
    kek = keyring_of(connection_context(conn)).active
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:  # SQLite's writer lock already serialises appenders
        found = _READ_HEAD_SQLITE.rows(conn)
        head = found[0] if found else None
    else:
        head = conn.execute(_LOCK_HEAD).one_or_none()
    prev = head[1] if head else GENESIS
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
        row["mac"], row["mac_kek"] = row_mac(kek, prev), kek.id
        rows.append(row)
    if sqlite:  # one precompiled INSERT per row, in order: its rowid is the id
        ids = [int(_INSERT_ROW_SQLITE.run(conn, row) or 0) for row in rows]
    else:
        ids = [int(i) for i in conn.execute(_INSERT_ROWS, rows).scalars()]
    moved = {"last_id": ids[-1], "last_hash": prev, "mac": head_mac(kek, ids[-1], prev),
             "mac_kek": kek.id}
    if head is None:
        conn.execute(_CREATE_HEAD, {"id": 1, **moved})
    elif sqlite:
        _MOVE_HEAD_SQLITE.run(conn, moved)
    else:
        conn.execute(_MOVE_HEAD, moved)
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


def check_row(keyring: Keyring, prev: str, row: AuditEvent) -> str:
    """"" if `row` follows a row whose hash is `prev`, is unaltered and carries its MAC;
    else what is wrong with it."""
    if row.prev_hash != prev:
        return ("does not follow the entry before it (an entry before it was deleted, "
                "altered or moved)")
    if row_hash(prev, row) != row.hash:
        return "its contents were altered"
    why = _mac_ok(keyring, row.mac_kek, row.mac, lambda kek: row_mac(kek, row.hash))
    return why


def check_head(keyring: Keyring, head: AuditHead) -> str:
    return _mac_ok(keyring, head.mac_kek, head.mac,
                   lambda kek: head_mac(kek, head.last_id, head.last_hash))


async def _rows(session: AsyncSession, batch: int = 5000, after: int = 0
                ) -> AsyncIterator[AuditEvent]:
    last = after
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


async def session_keyring(session: AsyncSession) -> Keyring:
    conn = await session.connection()
    return keyring_of(connection_context(conn.sync_connection))  # type: ignore[arg-type]


async def verify(session: AsyncSession, checkpoints: Sequence[Checkpoint] = (),
                 keyring: Keyring | None = None) -> VerifyResult:
    """Rehash the whole chain, check every MAC and the head, and check that the chain
    still holds each checkpoint's entry at its position (so that rows deleted from the
    end, or all of them, are found even when the head was rewound to match)."""
    keyring = keyring or await session_keyring(session)
    pending = sorted(checkpoints, key=lambda c: c.count)
    prev, count, last_id = GENESIS, 0, 0
    async for row in _rows(session):
        count += 1
        why = check_row(keyring, prev, row)
        if why:
            return VerifyResult(False, count, row.id, why)
        while pending and pending[0].count == count:
            cp = pending.pop(0)
            if (cp.last_id, cp.last_hash) != (row.id, row.hash):
                return VerifyResult(False, count, row.id, "it is not the entry the "
                                    f"checkpoint of {cp.at.isoformat()} recorded at position "
                                    f"{cp.count} (entry {cp.last_id}): entries before it were "
                                    "deleted or replaced")
        prev, last_id = row.hash, row.id or 0
    if pending:
        cp = pending[-1]
        return VerifyResult(False, count, last_id + 1, f"the log ends at entry {last_id or '-'} "
                            f"({count} entries) but the checkpoint of {cp.at.isoformat()} "
                            f"recorded {cp.count} entries up to entry {cp.last_id}: entries "
                            f"from {last_id + 1} on were deleted")
    head = (await session.execute(select(AuditHead))).scalar_one_or_none()
    if head is None and count == 0:
        return VerifyResult(True, 0)
    if head is None or head.last_hash != prev or head.last_id != last_id:
        broken = (head.last_id if head else None) or last_id
        return VerifyResult(False, count, broken, "the newest rows were removed or the head "
                            "was altered")
    why = check_head(keyring, head)
    if why:
        return VerifyResult(False, count, head.last_id, f"the head: {why}")
    return VerifyResult(True, count)
