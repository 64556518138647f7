"""Shared fixtures: a fresh migrated database per test, the app, and personas.

The schema is migrated once per session into a template (an SQLite file, or a
PostgreSQL template database when ECONSULT_TEST_DATABASE_URL is set) and copied for
each test, so every test gets its own database without paying for Alembic each time.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.db import Database
from econsult.db.schema import upgrade
from econsult.http.state import app_state
from econsult.models import User
from econsult.ops.migrate import seed_catalogue
from econsult.security.keyring import new_key
from tests.factories import (
    CHEAP_PASSWORDS,
    Personas,
    dermatology_on_call,
    make_personas,
    session_for,
)

TEST_MASTER_KEY = base64.b64encode(new_key()).decode()
PG_URL = os.environ.get("ECONSULT_TEST_DATABASE_URL", "")
# Monday 2026-03-02 09:00 in Vancouver: inside business hours, a week before DST.
T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, seeded database to copy: a file path (SQLite) or a database name (PG)."""
    import asyncio

    if PG_URL:
        name = f"econsult_tpl_{uuid.uuid4().hex[:8]}"
        _pg_exec(_pg_admin_url(PG_URL), f'CREATE DATABASE "{name}"')
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        settings = Settings(data_dir=tmp_path_factory.mktemp("tpl"), database_url=url,
                            master_key=TEST_MASTER_KEY)
        upgrade(settings)
        asyncio.run(_seed(settings))
        yield name
        _pg_exec(_pg_admin_url(PG_URL), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        data_dir = tmp_path_factory.mktemp("tpl")
        settings = Settings(data_dir=data_dir, master_key=TEST_MASTER_KEY)
        upgrade(settings)
        asyncio.run(_seed(settings))
        yield str(data_dir / "econsult.db")


async def _seed(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        await seed_catalogue(db, settings)
    finally:
        await db.dispose()


def _pg_exec(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    # In a thread of its own: the caller may already be inside an event loop
    # (Playwright's sync API keeps one running in the main thread).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture
def settings(tmp_path: Path, template_db: str) -> Iterator[Settings]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if PG_URL:
        name = f"econsult_t_{uuid.uuid4().hex[:10]}"
        _pg_exec(_pg_admin_url(PG_URL), f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        yield Settings(data_dir=data_dir, database_url=url, master_key=TEST_MASTER_KEY,
                       scheduler_enabled=False, image_pool="thread", mfa_required=frozenset())
        _pg_exec(_pg_admin_url(PG_URL), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        shutil.copyfile(template_db, data_dir / "econsult.db")
        # Second factor off unless a test turns it on (tests/security/test_mfa_login.py),
        # so every other test logs in with the password alone.
        yield Settings(data_dir=data_dir, master_key=TEST_MASTER_KEY, scheduler_enabled=False,
                       image_pool="thread", mfa_required=frozenset())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def db(app: Starlette) -> Database:
    database: Database = app_state(app).db
    return database


@pytest.fixture
async def personas(app: Starlette) -> Personas:
    return await make_personas(app_state(app).db, app_state(app).clock)


@pytest.fixture
async def rota(db: Database, personas: Personas, clock: ManualClock) -> None:
    """Dermatology on call for the coming week (tests.factories.dermatology_on_call)."""
    await dermatology_on_call(db, personas, clock.now())


@pytest.fixture
async def anon(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as client:
        yield client


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://testserver", follow_redirects=False)


ClientFor = Callable[[User], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(app: Starlette) -> AsyncIterator[ClientFor]:
    """client_for(user) -> an AsyncClient logged in as that user, CSRF header set."""
    clients: list[httpx.AsyncClient] = []

    async def make(user: User) -> httpx.AsyncClient:
        ctx = app_state(app)
        token, csrf = await session_for(ctx.db, user, ctx.clock, ctx.settings)
        client = _client(app)
        client.cookies.set(ctx.settings.session_cookie_name, token)
        client.headers["X-CSRF-Token"] = csrf
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
