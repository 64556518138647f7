"""Shared helpers for the realtime tests: an event factory and a throwaway Postgres."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from econsult.realtime.events import BusEvent
from econsult.realtime.pgbus import asyncpg_dsn

CONSULT_ID = "7d1f6f7e-3c1a-4b0e-9a55-2f7c2c9f0a11"


def make_event(event_id: int, *groups: str, **data: object) -> BusEvent:
    return BusEvent(
        id=event_id,
        type="consult.assigned",
        consult_id=CONSULT_ID,
        at=datetime(2026, 3, 1, 17, 30, tzinfo=UTC),
        groups=frozenset(groups),
        data=data or {"state": "assigned", "urgency": "routine"},
    )


@pytest.fixture
def event() -> Callable[..., BusEvent]:
    return make_event


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh database per test on the server named by ECONSULT_TEST_DATABASE_URL.

    NOTIFY channels are per database, so this also keeps concurrent test runs on
    the same server from hearing each other.
    """
    base = os.environ.get("ECONSULT_TEST_DATABASE_URL")
    if not base:
        pytest.skip("ECONSULT_TEST_DATABASE_URL is not set (postgresql+asyncpg://...)")
    name = f"econsult_rt_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(asyncpg_dsn(base))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        await admin.close()
        pytest.skip("the test database user may not CREATE DATABASE")
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
