"""Lockout is not a weapon (NIST SP 800-63B 5.2.2): an attacker without the password
cannot lock the legitimate person out, while guessing stays slow from one address
and from many."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.security.throttle import ACCOUNT_CEILING
from tests.factories import PASSWORD, Personas

ATTACKER = "203.0.113.66"
DESK = "127.0.0.1"  # where the on-call specialist works


def _client(app: Starlette, addr: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(addr, 40000)),
                             base_url="http://testserver", follow_redirects=False)


@pytest.fixture
async def attacker(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, ATTACKER) as client:
        yield client


@pytest.fixture
async def desk(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app, DESK) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    client.cookies.clear()
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_guessing_from_another_address_does_not_lock_the_specialist_out(
        attacker: httpx.AsyncClient, desk: httpx.AsyncClient, personas: Personas) -> None:
    statuses = [(await login(attacker, personas.derm.email, f"guess-{i}-wrong")).status_code
                for i in range(30)]
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}  # the guesser is stopped ...
    # ... even with the right password, from their address ...
    assert (await login(attacker, personas.derm.email, PASSWORD)).status_code == 429
    # ... while the specialist, mid-shift, logs straight in from theirs.
    assert (await login(desk, personas.derm.email, PASSWORD)).status_code == 200


async def test_repeated_failures_from_one_source_back_off(
        attacker: httpx.AsyncClient, personas: Personas, clock: ManualClock) -> None:
    for _ in range(5):
        assert (await login(attacker, personas.gp.email, "wrong-password-1")).status_code == 401
    first = await login(attacker, personas.gp.email, "wrong-password-1")
    assert first.status_code == 429
    assert 14 * 60 < int(first.headers["retry-after"]) <= 15 * 60 + 1
    clock.advance(timedelta(minutes=16))
    for _ in range(5):
        assert (await login(attacker, personas.gp.email, "wrong-password-2")).status_code == 401
    second = await login(attacker, personas.gp.email, PASSWORD)
    assert second.status_code == 429
    assert 29 * 60 < int(second.headers["retry-after"]) <= 30 * 60 + 1  # doubled
    clock.advance(timedelta(minutes=31))
    assert (await login(attacker, personas.gp.email, PASSWORD)).status_code == 200


async def test_guessing_spread_over_many_addresses_is_capped_but_not_at_the_desk(
        app: Starlette, desk: httpx.AsyncClient, personas: Personas,
        clock: ManualClock) -> None:
    # The specialist has logged in from the desk before: that address is theirs.
    assert (await login(desk, personas.derm.email, PASSWORD)).status_code == 200
    clock.advance(timedelta(minutes=1))
    for i in range(ACCOUNT_CEILING):
        async with _client(app, f"198.51.{i // 250}.{i % 250 + 1}") as bot:
            assert (await login(bot, personas.derm.email, "botnet-guess")).status_code == 401
    # A new address is now refused for this account (NIST's ceiling of 100) ...
    async with _client(app, "192.0.2.200") as fresh:
        assert (await login(fresh, personas.derm.email, "botnet-guess")).status_code == 429
        # ... but only for this account.
        assert (await login(fresh, personas.gp.email, PASSWORD)).status_code == 200
    # The desk is not part of the ceiling: the specialist is not locked out.
    assert (await login(desk, personas.derm.email, PASSWORD)).status_code == 200


async def test_a_shared_clinic_address_is_limited_more_loosely(
        app: Starlette, personas: Personas) -> None:
    async with _client(app, "192.0.2.10") as clinic:
        # Four people mistype four times each: nobody is blocked.
        for who in (personas.gp, personas.other_gp, personas.staff, personas.admin):
            for _ in range(4):
                assert (await login(clinic, who.email, "typo-password")).status_code == 401
        assert (await login(clinic, personas.gp.email, PASSWORD)).status_code == 200
