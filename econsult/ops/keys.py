"""Key rotation and retirement across everything the keyring protects.

Rotation makes a new KEK active and re-wraps every data key under it (images are
not re-encrypted: only their small wrapped keys change) and re-seals encrypted
fields. A KEK is retired only when nothing is left that it protects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import col

from econsult.config import Settings
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput
from econsult.models import KekRecord
from econsult.ops.audit_keys import count_audit, rekey_audit
from econsult.ops.rekey import (
    count_fields,
    count_images,
    count_search,
    rekey_fields,
    rekey_images,
    rekey_search,
)
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.keyring import Kek, Keyring, load_key_file, new_key, save_key_file

# A re-keyer walks one kind of protected data: (db, keyring, progress) -> items re-keyed.
Progress = Callable[[int, int], None]
Rekeyer = Callable[[Database, Keyring, Settings, Progress], Awaitable[int]]
# Counts what a KEK still protects: (db, kek_id) -> how many items.
Counter = Callable[[Database, str, Settings], Awaitable[int]]


@dataclass(frozen=True)
class Protected:
    name: str
    rekey: Rekeyer
    count: Counter


def protected_kinds() -> list[Protected]:
    """Everything encrypted under the keyring, listed explicitly (no registration by
    import side effect). Fields come first: they are small and quick, and a damaged
    image (which `econsult images verify` would name) must not keep them from being
    re-sealed."""
    return [
        Protected(name="fields", rekey=rekey_fields, count=count_fields),
        Protected(name="images", rekey=rekey_images, count=count_images),
        # Search tokens are HMACs under a key derived from the KEK: recomputed from the
        # (re-sealed) names and health numbers, so search works across a rotation.
        Protected(name="search", rekey=rekey_search, count=count_search),
        Protected(name="audit entries", rekey=rekey_audit, count=count_audit),
    ]


def _require_key_file(settings: Settings) -> None:
    if settings.master_key:
        raise InvalidInput(
            "The KEK comes from ECONSULT_MASTER_KEY: rotate by putting a new key first in "
            "that variable (comma-separated, older keys after it), then run `econsult keys "
            "rotate` to re-wrap data under it."
        )


async def rotate(
    settings: Settings, *, progress: Callable[[str, int, int], None] | None = None
) -> tuple[str, dict[str, int]]:
    """New active KEK (key file mode), then re-wrap everything under the active KEK."""
    now = datetime.now(UTC)
    if settings.master_key:
        from econsult.security.keyring import parse_master_key

        keyring = parse_master_key(settings.master_key)
    else:
        old = load_key_file(settings.key_file)
        new = Kek.from_bytes(new_key())
        keyring = Keyring(new, [old.get(i) for i in old.ids])
        save_key_file(settings.key_file, keyring)
    db = Database.from_settings(settings)
    counts: dict[str, int] = {}
    try:
        async with db.write() as session:
            if await session.get(KekRecord, keyring.active_id) is None:
                session.add(KekRecord(id=keyring.active_id, created_at=now))
            await session.execute(update(KekRecord).where(col(KekRecord.id) == keyring.active_id)
                                  .values(activated_at=now))
            await audit.append(session, actor=Actor(None, "cli"), action="keys.rotate", at=now,
                               object_type="kek", object_id=keyring.active_id)
        for kind in protected_kinds():
            def report(done: int, total: int, _name: str = kind.name) -> None:
                if progress:
                    progress(_name, done, total)

            counts[kind.name] = await kind.rekey(db, keyring, settings, report)
    finally:
        await db.dispose()
    return keyring.active_id, counts


async def retire(settings: Settings, kek_id: str) -> None:
    _require_key_file(settings)
    keyring = load_key_file(settings.key_file)
    if kek_id not in keyring.ids:
        raise InvalidInput(f"No KEK {kek_id} in the key file.")
    if kek_id == keyring.active_id:
        raise Conflict("That KEK is the active one; rotate first.")
    db = Database.from_settings(settings)
    try:
        remaining = {k.name: await k.count(db, kek_id, settings) for k in protected_kinds()}
        still = {name: n for name, n in remaining.items() if n}
        if still:
            listing = ", ".join(f"{n} {name}" for name, n in still.items())
            raise Conflict(f"KEK {kek_id} still protects {listing}; run `econsult keys "
                           "rotate` first.")
        now = datetime.now(UTC)
        save_key_file(settings.key_file,
                      Keyring(keyring.active, [keyring.get(i) for i in keyring.ids
                                               if i != kek_id]))
        async with db.write() as session:
            await session.execute(update(KekRecord).where(col(KekRecord.id) == kek_id)
                                  .values(retired_at=now))
            await audit.append(session, actor=Actor(None, "cli"), action="keys.retire", at=now,
                               object_type="kek", object_id=kek_id)
    finally:
        await db.dispose()
