"""`econsult migrate`: the key file, the schema at head, and the default catalogue."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import col

from econsult.config import Settings
from econsult.consults.checklist_store import seed_defaults as seed_checklists
from econsult.db import Database
from econsult.db.files import private_dir
from econsult.db.schema import upgrade
from econsult.models import KekRecord, Specialty
from econsult.ops.audit_keys import key_legacy_chain
from econsult.routing.targets import default_targets_for, targets_to_json
from econsult.security.keyring import ensure_key_file, load_keyring

DEFAULT_SPECIALTIES: dict[str, str] = {
    "dermatology": "Dermatology",
    "cardiology": "Cardiology",
    "endocrinology": "Endocrinology",
    "psychiatry": "Psychiatry",
    "neurology": "Neurology",
    "gastroenterology": "Gastroenterology",
    "rheumatology": "Rheumatology",
    "nephrology": "Nephrology",
    "hematology": "Hematology",
    "infectious-diseases": "Infectious Diseases",
    "geriatric-medicine": "Geriatric Medicine",
    "pediatrics": "Pediatrics",
}


async def seed_catalogue(db: Database, settings: Settings) -> int:
    """Insert missing default specialties (existing targets are left as staff set them)
    and their missing default workup checklists (staff edits are kept), and record the
    keyring's KEK ids. Returns the number of specialties added."""
    keyring = load_keyring(settings.master_key, settings.key_file)
    now = datetime.now(UTC)
    async with db.write() as session:
        have = set((await session.execute(select(col(Specialty.slug)))).scalars())
        added = 0
        for slug, name in DEFAULT_SPECIALTIES.items():
            if slug not in have:
                targets = json.dumps(targets_to_json(default_targets_for(slug)))
                session.add(Specialty(slug=slug, name=name, targets=targets))
                added += 1
        await seed_checklists(session)
        known = set((await session.execute(select(col(KekRecord.id)))).scalars())
        for kek_id in keyring.ids:
            if kek_id not in known:
                active = kek_id == keyring.active_id
                session.add(KekRecord(id=kek_id, created_at=now,
                                      activated_at=now if active else None))
    return added


async def migrate(settings: Settings) -> tuple[bool, int]:
    """Key file, schema, catalogue. Returns (key file created, specialties added)."""
    private_dir(settings.data_dir)
    created = False if settings.master_key else ensure_key_file(settings.key_file)
    await asyncio.to_thread(upgrade, settings)
    db = Database.from_settings(settings)
    try:
        added = await seed_catalogue(db, settings)
        await key_legacy_chain(db, settings, datetime.now(UTC))
    finally:
        await db.dispose()
    return created, added
