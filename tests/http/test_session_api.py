"""The page's view of its session: when it ends, "stay signed in", and which requests
count as the person's activity (a page's background requests and its status checks
do not keep an idle session alive)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.http.state import app_state
from tests.conftest import ClientFor
from tests.factories import Personas, ok

BACKGROUND = {"X-Econsult-Background": "1"}


async def test_status_says_when_the_session_ends(client_for: ClientFor, personas: Personas,
                                                 app: Starlette) -> None:
    gp = await client_for(personas.gp)
    status = ok(await gp.get("/api/v1/session", headers=BACKGROUND))
    idle = app_state(app).settings.session_idle_minutes * 60
    assert status["idle_seconds"] == idle
    assert status["warn_seconds"] == 120
    assert idle - 5 <= status["seconds_left"] <= idle


async def test_background_requests_do_not_keep_a_session_alive(
        client_for: ClientFor, personas: Personas, clock: ManualClock, app: Starlette) -> None:
    gp = await client_for(personas.gp)
    idle = timedelta(minutes=app_state(app).settings.session_idle_minutes)
    for _ in range(4):  # polling every few minutes, as a page's refresh would
        clock.advance(idle / 5)
        assert (await gp.get("/api/v1/drafts", headers=BACKGROUND)).status_code == 200
        assert (await gp.get("/api/v1/session", headers=BACKGROUND)).status_code == 200
    left = ok(await gp.get("/api/v1/session", headers=BACKGROUND))["seconds_left"]
    assert left <= (idle / 5).total_seconds() + 1
    clock.advance(idle / 5 + timedelta(seconds=1))
    ended = await gp.get("/api/v1/drafts", headers=BACKGROUND)
    assert ended.status_code == 401 and ended.json()["error"]["code"] == "not_authenticated"


async def test_real_requests_and_stay_signed_in_do(
        client_for: ClientFor, personas: Personas, clock: ManualClock, app: Starlette) -> None:
    gp = await client_for(personas.gp)
    idle = timedelta(minutes=app_state(app).settings.session_idle_minutes)
    clock.advance(idle * 0.8)
    assert (await gp.get("/api/v1/drafts")).status_code == 200  # the person did this
    clock.advance(idle * 0.8)
    kept = ok(await gp.post("/api/v1/session/keepalive"))
    assert kept["seconds_left"] >= idle.total_seconds() - 1
    clock.advance(idle * 0.8)
    assert (await gp.get("/api/v1/session", headers=BACKGROUND)).status_code == 200
    await app_state(app).session_touches.drain()


async def test_keepalive_needs_the_csrf_token_and_a_live_session(
        client_for: ClientFor, personas: Personas, clock: ManualClock, app: Starlette,
        anon: httpx.AsyncClient) -> None:
    gp = await client_for(personas.gp)
    token = gp.headers.pop("X-CSRF-Token")
    refused = await gp.post("/api/v1/session/keepalive")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    gp.headers["X-CSRF-Token"] = token
    clock.advance(timedelta(minutes=app_state(app).settings.session_idle_minutes, seconds=1))
    assert (await gp.post("/api/v1/session/keepalive")).status_code == 401
    assert (await anon.get("/api/v1/session")).status_code == 401
