"""WebSocket ``/ws``: live consult events for the caller's queue, thread or dashboard.

The socket carries ``BusEvent.to_json()`` only (ids, types, queue fields: never
patient data); pages fetch details over the authorised API. Refused before the
handshake completes without a session or from another site's page: browsers send
cookies on cross-site WebSockets and CORS does not apply to them.

Audiences: everyone hears ``user:<id>`` (their own consults, or those assigned to
them); specialists also hear ``pool:<slug>`` for each specialty they hold; staff
hear ``staff``. Admins get only their user group, which no consult event names:
their socket carries heartbeats and nothing clinical, by design.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from econsult.accounts import session_policy
from econsult.consults.events import events_after
from econsult.http.auth import AUTH_SCOPE_KEY, origin_problem
from econsult.http.context import AppContext, get_ctx
from econsult.realtime.bus import EventBus, SubscriberLagged
from econsult.realtime.events import STAFF_GROUP, BusEvent, pool_group, user_group
from econsult.security import sessions
from econsult.security.policy import Principal
from econsult.security.sessions import ActiveSession

logger = logging.getLogger(__name__)

# Seconds between heartbeats; the session is re-checked on each one.
HEARTBEAT_SECONDS = 20.0
# The server only expects pings from the page.
MAX_MESSAGE_BYTES = 512
# Live events a slow socket may have queued before it is told to resync.
MAX_QUEUE = 256

CLOSE_POLICY = 1008  # no session, foreign origin, bad query
CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001  # the server is shutting down: reconnect later
CLOSE_RESYNC = 4000  # fell behind: reconnect with ?after=<last id>
CLOSE_SESSION_ENDED = 4401  # logged out, revoked or expired: do not reconnect


@functools.lru_cache(maxsize=256)
def _wire_text(event: BusEvent) -> str:
    """The event as sent: serialised once, however many sockets it goes to."""
    return json.dumps(event.to_json(), separators=(",", ":"))


def groups_of(user: Principal) -> frozenset[str]:
    groups = {user_group(user.id)}
    if user.role == "specialist":
        groups.update(pool_group(slug) for slug in user.specialties)
    elif user.role == "staff":
        groups.add(STAFF_GROUP)
    return frozenset(groups)


def _after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


async def events_socket(websocket: WebSocket) -> None:
    ctx = get_ctx(websocket)
    auth: ActiveSession | None = websocket.scope.get(AUTH_SCOPE_KEY)
    try:
        after = _after(websocket.query_params.get("after"))
    except ValueError:
        await websocket.close(CLOSE_POLICY)
        return
    # Browsers always send Origin on a WebSocket handshake; one without is not a page of ours.
    if (auth is None or "origin" not in websocket.headers
            or origin_problem(websocket, ctx) is not None):
        await websocket.close(CLOSE_POLICY)
        return
    bus: EventBus = ctx.extras["bus"]
    await _Socket(websocket, ctx, auth, bus).run(after)


class _Socket:
    def __init__(self, websocket: WebSocket, ctx: AppContext, auth: ActiveSession,
                 bus: EventBus) -> None:
        self.ws = websocket
        self.ctx = ctx
        self.auth = auth
        self.bus = bus
        self.groups = groups_of(auth.principal)
        self._send_lock = asyncio.Lock()

    async def run(self, after: int | None) -> None:
        # Subscribe before reading the table, so nothing committed in between is lost.
        async with self.bus.subscribe(self.groups, max_queue=MAX_QUEUE) as live:
            await self.ws.accept()
            replayed = await self._replay(after) if after is not None else set()
            tasks = [asyncio.create_task(t) for t in (
                self._stream(live, replayed), self._receive(), self._heartbeat())]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                code = next(iter(done)).result()
            except (WebSocketDisconnect, RuntimeError, OSError):
                code = None
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if code is not None and self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await self.ws.close(code)
            except (RuntimeError, OSError):
                pass  # the client left first

    async def _send(self, payload: dict[str, Any]) -> None:
        await self._send_text(json.dumps(payload, separators=(",", ":")))

    async def _send_event(self, event: BusEvent) -> None:
        await self._send_text(_wire_text(event))

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.ws.send_text(text)

    async def _replay(self, after: int) -> set[int]:
        sent: set[int] = set()
        cursor: int | None = after
        while cursor is not None:
            async with self.ctx.db.read() as db:
                events, cursor = await events_after(db, cursor, self.groups)
            for event in events:
                await self._send_event(event)
                sent.add(event.id)
        return sent

    async def _stream(self, live: Any, replayed: set[int]) -> int:
        try:
            async for event in live:
                assert isinstance(event, BusEvent)
                if event.id in replayed:
                    continue
                await self._send_event(event)
        except SubscriberLagged:
            await self._send({"type": "resync"})
            return CLOSE_RESYNC
        return CLOSE_GOING_AWAY  # the bus closed: the server is stopping

    async def _receive(self) -> int | None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return None
            data = message.get("text") or message.get("bytes") or ""
            if len(data) > MAX_MESSAGE_BYTES:
                return CLOSE_TOO_BIG

    async def _heartbeat(self) -> int:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if not await self._session_alive():
                return CLOSE_SESSION_ENDED
            await self._send({"type": "ping"})

    async def _session_alive(self) -> bool:
        token = self.ws.cookies.get(self.ctx.settings.session_cookie_name, "")
        current = await sessions.resolve(self.ctx.db, token, now=self.ctx.clock.now(),
                                         policy=session_policy(self.ctx.settings))
        return current is not None and current.session_id == self.auth.session_id


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/ws", events_socket)]

