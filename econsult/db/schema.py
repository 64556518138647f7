"""The schema is Alembic's: bring a database to the head migration, and refuse to
serve one that is not there.

`upgrade` is synchronous (Alembic runs its own event loop inside env.py); call it in a
worker thread when an event loop is running.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from econsult.config import Settings
from econsult.db.engines import Database
from econsult.db.files import private_dir, private_sqlite_file, sqlite_file


class SchemaOutOfDate(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(str(resources.files("econsult"))) /
                                               "migrations"))
    cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(settings: Settings) -> None:
    if settings.is_sqlite:
        private_dir(settings.data_dir)
        path = sqlite_file(settings.database_url)
        if path is not None:
            private_sqlite_file(path)
    command.upgrade(alembic_config(settings.database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def check_schema_current(db: Database) -> None:
    """Refuse to serve a database that is not at the head migration."""
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
