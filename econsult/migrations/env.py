"""Alembic environment: async engine, batch mode for SQLite, our naming convention."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import econsult.models  # noqa: F401  (registers every table on the metadata)
from econsult.config import Settings
from econsult.models.base import metadata

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings.from_env().database_url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Our column types live in econsult.models.types; make generated scripts import them.
    if type_ == "type" and obj.__class__.__module__ == "econsult.models.types":
        autogen_context.imports.add("import econsult.models.types")
        return f"econsult.models.types.{obj.__class__.__name__}()"
    if type_ == "type" and obj.__class__.__module__.startswith("sqlmodel"):
        autogen_context.imports.add("import sqlmodel.sql.sqltypes")
        length = f"length={obj.length}" if getattr(obj, "length", None) else ""
        return f"sqlmodel.sql.sqltypes.{obj.__class__.__name__}({length})"
    return False


def _configure(connection: Connection | None = None, **kw: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
        render_item=_render_item,
        **kw,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_async())
