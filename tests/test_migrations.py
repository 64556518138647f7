"""The migration head and the models agree, migrating is idempotent, and the app
refuses a database that is behind."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

import econsult.models  # noqa: F401  (registers every table)
from econsult.app import create_app
from econsult.config import Settings
from econsult.db import Database
from econsult.db.schema import SchemaOutOfDate, check_schema_current, head_revision
from econsult.models import KekRecord, Specialty
from econsult.models.base import metadata
from econsult.ops.migrate import DEFAULT_SPECIALTIES, migrate
from econsult.turnaround.bands import INDEX as BAND_INDEX


def _not_the_band_index(obj: Any, name: str | None, type_: str, reflected: bool,
                        compare_to: Any) -> bool:
    """The band index is on an expression written per dialect in its migration (no
    model declares it; tests/turnaround/test_band_index.py checks it instead)."""
    return not (type_ == "index" and name == BAND_INDEX)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": metadata,
                          "include_object": _not_the_band_index}
    )
    with warnings.catch_warnings():  # SQLite's reflection skips expression indexes
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
        return list(compare_metadata(context, metadata))


async def test_models_and_migration_head_agree(settings: Settings) -> None:
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == [], "models and migrations differ; write a migration:\n" + "\n".join(
        map(str, differences))


async def test_a_fresh_database_is_at_head(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        await check_schema_current(db)
        async with db.read() as session:
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))
                       ).scalar_one()
    finally:
        await db.dispose()
    assert version == head_revision()


async def _state(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    db = Database.from_settings(settings)
    try:
        async with db.read() as session:
            specialties = [(s.slug, s.targets) for s in (await session.execute(
                select(Specialty).order_by(col(Specialty.slug)))).scalars()]
            keks = list((await session.execute(select(col(KekRecord.id)))).scalars())
    finally:
        await db.dispose()
    return specialties, keks


async def test_migrate_twice_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    created, added = await migrate(settings)
    assert created is True and added == len(DEFAULT_SPECIALTIES) == 12
    key_file = settings.key_file.read_bytes()
    first = await _state(settings)
    assert [slug for slug, _ in first[0]] == sorted(DEFAULT_SPECIALTIES)
    assert all(json.loads(targets) for _, targets in first[0])
    assert len(first[1]) == 1

    assert await migrate(settings) == (False, 0)
    assert settings.key_file.read_bytes() == key_file
    assert await _state(settings) == first


async def test_migrate_keeps_targets_staff_changed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    await migrate(settings)
    db = Database.from_settings(settings)
    try:
        async with db.write() as session:
            await session.execute(text("UPDATE specialties SET targets='{\"x\": 1}' "
                                       "WHERE slug='cardiology'"))
            # (its checklists first: they belong to the specialty)
            await session.execute(text("DELETE FROM checklists WHERE specialty='pediatrics'"))
            await session.execute(text("DELETE FROM specialties WHERE slug='pediatrics'"))
    finally:
        await db.dispose()
    assert await migrate(settings) == (False, 1)
    specialties = dict((await _state(settings))[0])
    assert specialties["cardiology"] == '{"x": 1}'
    assert "pediatrics" in specialties


async def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    db = Database.from_settings(settings)
    try:
        with pytest.raises(SchemaOutOfDate, match="run `econsult migrate`"):
            await check_schema_current(db)
    finally:
        await db.dispose()


async def test_database_behind_head_is_refused(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        async with db.write() as session:
            await session.execute(text("UPDATE alembic_version SET version_num='0000old'"))
        with pytest.raises(SchemaOutOfDate) as info:
            await check_schema_current(db)
    finally:
        await db.dispose()
    assert "0000old" in str(info.value) and "econsult migrate" in str(info.value)


async def test_app_will_not_start_on_an_unmigrated_database(tmp_path: Path) -> None:
    from econsult.security.keyring import ensure_key_file

    settings = Settings(data_dir=tmp_path / "data")
    ensure_key_file(settings.key_file)
    app = create_app(settings)
    with pytest.raises(SchemaOutOfDate, match="econsult migrate"):
        async with app.router.lifespan_context(app):
            pass


async def test_seeded_catalogue_has_every_default(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        async with db.read() as session:
            count = (await session.execute(select(func.count()).select_from(Specialty))
                     ).scalar_one()
    finally:
        await db.dispose()
    assert count == len(DEFAULT_SPECIALTIES)
