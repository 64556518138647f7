"""WebSocket /ws driven in-process (same event loop as the app and its database)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.types import Message, Scope

from econsult.accounts.login import session_policy
from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http import ws
from econsult.http.state import app_state
from econsult.models import ConsultEvent, User
from econsult.realtime.bus import InMemoryBus
from econsult.realtime.pgbus import PostgresBus
from econsult.realtime.replay import bus_event_from_row
from econsult.security import sessions
from econsult.security.policy import Principal, audience
from tests.conftest import ClientFor
from tests.factories import Personas, ok, session_for, submit

SITE = "http://testserver"


class WSClient:
    """A minimal ASGI WebSocket client: what the browser does, without a network."""

    def __init__(self, app: Starlette, *, cookie: str | None, origin: str | None,
                 query: str = "") -> None:
        self.app = app
        headers = [(b"host", b"testserver")]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if cookie is not None:
            headers.append((b"cookie", cookie.encode()))
        self.scope: Scope = {
            "type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "scheme": "ws", "server": ("testserver", 80), "client": ("127.0.0.1", 50000),
            "root_path": "", "path": "/ws", "raw_path": b"/ws",
            "query_string": query.encode(), "headers": headers, "subprotocols": [],
        }
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.refusal: Message = {}  # the handshake's answer when it was not an accept

    async def connect(self) -> Message:
        """The server's answer to the handshake: websocket.accept or websocket.close."""
        self.task = asyncio.create_task(self.app(self.scope, self.to_app.get, self.from_app.put))
        await self.to_app.put({"type": "websocket.connect"})
        return await self.next_message()

    async def next_message(self, timeout: float = 5.0) -> Message:
        return await asyncio.wait_for(self.from_app.get(), timeout)

    async def receive_json(self, timeout: float = 5.0) -> dict[str, Any]:
        message = await self.next_message(timeout)
        assert message["type"] == "websocket.send", message
        data: dict[str, Any] = json.loads(message["text"])
        return data

    async def events(self, count: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < count:
            data = await self.receive_json()
            if data["type"] != "ping":
                out.append(data)
        return out

    async def send_text(self, text: str) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": text})

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
            await asyncio.wait_for(self.task, 5)


Connect = Callable[..., Awaitable[WSClient]]


@pytest.fixture
async def connect(app: Starlette) -> AsyncIterator[Connect]:
    opened: list[WSClient] = []
    ctx = app_state(app)

    async def make(user: User | None, *, origin: str | None = SITE, query: str = "",
                   token: str | None = None, expect_accept: bool = True) -> WSClient:
        cookie = None
        if user is not None:
            token = token or (await session_for(ctx.db, user, ctx.clock, ctx.settings))[0]
        if token is not None:
            cookie = f"{ctx.settings.session_cookie_name}={token}"
        client = WSClient(app, cookie=cookie, origin=origin, query=query)
        opened.append(client)
        answer = await client.connect()
        if expect_accept:
            assert answer["type"] == "websocket.accept", answer
        else:
            client.refusal = answer
        return client

    yield make
    for client in opened:
        await client.close()


async def test_refused_without_a_session(connect: Connect) -> None:
    client = await connect(None, expect_accept=False)
    assert client.refusal == {"type": "websocket.close", "code": 1008, "reason": ""}


async def test_refused_with_an_unknown_session(connect: Connect) -> None:
    client = await connect(None, token="not-a-session", expect_accept=False)
    assert client.refusal["type"] == "websocket.close"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
async def test_refused_from_a_foreign_or_missing_origin(
    connect: Connect, personas: Personas, origin: str | None
) -> None:
    client = await connect(personas.derm, origin=origin, expect_accept=False)
    assert client.refusal["type"] == "websocket.close"
    assert client.refusal["code"] == 1008


async def test_refused_with_a_malformed_after(connect: Connect, personas: Personas) -> None:
    client = await connect(personas.gp, query="after=-1", expect_accept=False)
    assert client.refusal["type"] == "websocket.close"


async def test_events_reach_the_assignee_and_the_gp_but_not_another_gp(
    rota: None, connect: Connect, personas: Personas, client_for: ClientFor
) -> None:
    derm = await connect(personas.derm)
    gp_socket = await connect(personas.gp)
    other = await connect(personas.other_gp)
    cardio = await connect(personas.cardio)
    cid = ok(await submit(await client_for(personas.gp)), 201)["id"]

    for socket in (derm, gp_socket):
        submitted, assigned = await socket.events(2)
        assert (submitted["type"], assigned["type"]) == ("submitted", "assigned")
        assert assigned["consult_id"] == cid
        assert assigned["assigned_to"] == personas.derm.id
        assert assigned["state"] == "assigned" and assigned["due_at"]
        assert "patient_name" not in assigned and "question" not in assigned
        assert "Jane" not in json.dumps([submitted, assigned])

    # The other GP's and the cardiologist's first events are their own consult's,
    # so nothing of the first consult was queued before them.
    own = ok(await submit(await client_for(personas.other_gp)), 201)["id"]
    first = (await other.events(1))[0]
    assert first["consult_id"] == own
    assert cardio.from_app.empty()


async def test_pooled_consults_reach_every_specialist_of_the_specialty(
    connect: Connect, personas: Personas, client_for: ClientFor
) -> None:
    sockets = [await connect(p) for p in (personas.derm, personas.derm2, personas.cardio)]
    created = ok(await submit(await client_for(personas.gp)), 201)
    assert created["state"] == "pooled"
    for socket in sockets[:2]:
        types = [e["type"] for e in await socket.events(2)]
        assert types == ["submitted", "pooled"]
    assert sockets[2].from_app.empty()


async def test_staff_hear_every_consult_and_admin_hears_none(
    rota: None, connect: Connect, personas: Personas, client_for: ClientFor
) -> None:
    staff = await connect(personas.staff)
    admin = await connect(personas.admin)
    gp = await connect(personas.gp)
    ok(await submit(await client_for(personas.gp)), 201)
    assert [e["type"] for e in await staff.events(2)] == ["submitted", "assigned"]
    await gp.events(2)
    assert admin.from_app.empty()


async def _table(db: Database, after: int) -> list[Any]:
    async with db.read() as session:
        rows = (await session.execute(select(ConsultEvent).where(
            col(ConsultEvent.id) > after).order_by(col(ConsultEvent.id)))).scalars()
        return [bus_event_from_row(r) for r in rows]


async def test_after_replays_exactly_what_the_caller_may_see(
    rota: None, app: Starlette, connect: Connect, personas: Personas, client_for: ClientFor,
    db: Database,
) -> None:
    gp, other = await client_for(personas.gp), await client_for(personas.other_gp)
    derm = await client_for(personas.derm)
    first = ok(await submit(gp), 201)["id"]
    mark = max(e.id for e in await _table(db, 0))
    second = ok(await submit(gp), 201)["id"]
    ok(await submit(other), 201)
    ok(await derm.post(f"/api/v1/consults/{second}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{first}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{first}/messages",
                       json={"kind": "clarification_request", "body": "Any bleeding?"}), 201)

    expected_all = await _table(db, mark)
    # second: submitted, assigned, acknowledged; first: acknowledged, clarification_requested;
    # the other GP's consult: submitted, assigned (to derm too).
    counts = {personas.gp.id: 5, personas.derm.id: 7, personas.other_gp.id: 2,
              personas.cardio.id: 0}
    for user in (personas.gp, personas.derm, personas.other_gp, personas.cardio):
        groups = audience(await _principal(app, user))
        expected = [e.to_json() for e in expected_all if e.groups & groups]
        assert len(expected) == counts[user.id], user.email
        socket = await connect(user, query=f"after={mark}")
        got = [await socket.receive_json() for _ in expected]
        assert got == expected, user.email
        # Nothing else was replayed: the next message is a live one.
        assert socket.from_app.empty()
        await socket.close()


async def _principal(app: Starlette, user: User) -> Principal:
    ctx = app_state(app)
    token, _ = await session_for(ctx.db, user, ctx.clock, ctx.settings)
    auth = await sessions.resolve(ctx.db, token, now=ctx.clock.now(),
                                  policy=session_policy(ctx.settings))
    assert auth is not None
    return auth.principal


async def test_live_events_during_replay_are_not_sent_twice(
    rota: None, connect: Connect, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp = await client_for(personas.gp)
    ok(await submit(gp), 201)
    socket = await connect(personas.gp, query="after=0")
    replayed = await socket.events(2)
    ok(await submit(gp), 201)
    live = await socket.events(2)
    ids = [e["id"] for e in replayed + live]
    assert ids == sorted(set(ids)) and len(ids) == 4
    assert socket.from_app.empty()


async def test_revoked_session_closes_the_socket(
    monkeypatch: pytest.MonkeyPatch, app: Starlette, connect: Connect, personas: Personas
) -> None:
    monkeypatch.setattr(ws, "HEARTBEAT_SECONDS", 0.05)
    ctx = app_state(app)
    token, _ = await session_for(ctx.db, personas.derm, ctx.clock, ctx.settings)
    socket = await connect(None, token=token)
    assert (await socket.receive_json()) == {"type": "ping"}
    auth = await sessions.resolve(ctx.db, token, now=ctx.clock.now(),
                                  policy=session_policy(ctx.settings))
    assert auth is not None
    async with ctx.db.write() as session:
        await sessions.revoke(session, auth.session_id, now=ctx.clock.now())
    message = await socket.next_message()
    while message["type"] == "websocket.send":
        message = await socket.next_message()
    assert message == {"type": "websocket.close", "code": 4401, "reason": ""}


async def test_expired_session_closes_the_socket(
    monkeypatch: pytest.MonkeyPatch, connect: Connect, personas: Personas, clock: ManualClock
) -> None:
    monkeypatch.setattr(ws, "HEARTBEAT_SECONDS", 0.05)
    socket = await connect(personas.gp)
    clock.advance(timedelta(minutes=16))
    message = await socket.next_message()
    assert message == {"type": "websocket.close", "code": 4401, "reason": ""}


async def test_a_lagging_socket_is_told_to_resync(
    app: Starlette, connect: Connect, personas: Personas
) -> None:
    """On either bus (in-process on SQLite, LISTEN/NOTIFY on PostgreSQL) a socket's
    subscription is the process's own fan-out, and a lagging one (queue full, or the
    LISTEN connection lost meanwhile) ends with resync: the same path on both."""
    socket = await connect(personas.derm)
    bus = app_state(app).bus
    assert isinstance(bus, InMemoryBus | PostgresBus)
    assert bus.mark_resync_needed() >= 1
    assert await socket.receive_json() == {"type": "resync"}
    assert await socket.next_message() == {"type": "websocket.close", "code": 4000,
                                           "reason": ""}


async def test_oversized_client_message_closes_the_socket(
    connect: Connect, personas: Personas
) -> None:
    socket = await connect(personas.gp)
    await socket.send_text("x" * (ws.MAX_MESSAGE_BYTES + 1))
    assert await socket.next_message() == {"type": "websocket.close", "code": 1009,
                                           "reason": ""}


async def test_a_socket_does_not_keep_an_idle_session_alive(
        connect: Connect, personas: Personas, clock: ManualClock, app: Starlette) -> None:
    """The live socket is not the person's activity: reconnecting every few minutes
    (as a page on a flaky network does) never extends the idle timeout."""
    ctx = app_state(app)
    token, _ = await session_for(ctx.db, personas.gp, ctx.clock, ctx.settings)
    idle = timedelta(minutes=ctx.settings.session_idle_minutes)
    for _ in range(4):
        clock.advance(idle / 5)
        client = await connect(None, token=token)
        await client.close()
    await ctx.session_touches.drain()
    clock.advance(idle / 5 + timedelta(seconds=1))
    assert await sessions.resolve(ctx.db, token, now=clock.now(),
                                  policy=session_policy(ctx.settings),
                                  seen=ctx.session_touches.seen) is None
