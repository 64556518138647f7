"""Bring a database to the head migration and install the default catalogue.

`upgrade` is synchronous (Alembic runs its own event loop inside env.py);
`upgrade_async` runs it in a worker thread so it can be called while an event loop
is running, e.g. from tests or the demo command.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlmodel import col

from econsult.config import Settings
from econsult.db import Database
from econsult.models import KekRecord, Specialty
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


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(str(resources.files("econsult"))) /
                                               "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.database_url), "head")


async def seed_catalogue(db: Database, settings: Settings) -> int:
    """Insert missing default specialties (existing targets are left as staff set them)
    and record the keyring's KEK ids. Returns the number of specialties added."""
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
        known = set((await session.execute(select(col(KekRecord.id)))).scalars())
        for kek_id in keyring.ids:
            if kek_id not in known:
                active = kek_id == keyring.active_id
                session.add(KekRecord(id=kek_id, created_at=now,
                                      activated_at=now if active else None))
    return added


async def migrate(settings: Settings) -> tuple[bool, int]:
    """What `econsult migrate` does: key file, schema, catalogue.
    Returns (key file created, specialties added)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = False if settings.master_key else ensure_key_file(settings.key_file)
    await asyncio.to_thread(upgrade, settings)
    db = Database.from_settings(settings)
    try:
        added = await seed_catalogue(db, settings)
    finally:
        await db.dispose()
    return created, added


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def check_schema_current(db: Database) -> None:
    """Refuse to serve a database that is not at the head migration."""
    from sqlalchemy import text

    head = head_revision()
    try:
        async with db.read() as session:
            current = (await session.execute(text("SELECT version_num FROM alembic_version"))
                       ).scalar_one_or_none()
    except Exception:  # noqa: BLE001 - any failure here means "not migrated"
        current = None
    if current != head:
        raise SchemaOutOfDate(
            f"the database is at migration {current or 'none'}, the code needs {head}: "
            "run `econsult migrate` first"
        )


class SchemaOutOfDate(RuntimeError):
    pass
