"""What every command shares: settings read once, and the database refused with
"run `econsult migrate`" rather than a traceback from a missing table."""

from __future__ import annotations

import asyncio

from econsult.config import Settings
from econsult.db import Database
from econsult.db.schema import check_schema_current


def settings() -> Settings:
    return Settings.from_env()


async def open_database(config: Settings) -> Database:
    db = Database.from_settings(config)
    try:
        await check_schema_current(db)
    except BaseException:
        await db.dispose()
        raise
    return db


def require_schema(config: Settings) -> None:
    async def check() -> None:
        await (await open_database(config)).dispose()

    asyncio.run(check())
