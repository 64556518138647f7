"""WebSocket ``/ws``: live consult events for the caller's queue, thread or dashboard.

The socket carries ``BusEvent.to_json()`` only (ids, types, queue fields: never
patient data); pages fetch details over the authorised API. Refused before the
handshake completes without a session or from another site's page: browsers send
cookies on cross-site WebSockets and CORS does not apply to them.

Who hears what is the policy's `audience(user)`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from econsult.accounts.login import session_policy
from econsult.http.auth import AUTH_SCOPE_KEY, origin_problem
from econsult.http.requests import is_row_id
from econsult.http.state import AppState, app_state
from econsult.realtime.bus import SubscriberLagged
from econsult.realtime.events import BusEvent
from econsult.realtime.replay import replay
from econsult.security import sessions
from econsult.security.policy import audience
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


def _after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not is_row_id(raw):
        raise ValueError(raw)
    return int(raw)


async def events_socket(websocket: WebSocket) -> None:
    state = app_state(websocket)
    auth: ActiveSession | None = websocket.scope.get(AUTH_SCOPE_KEY)
    try:
        after = _after(websocket.query_params.get("after"))
    except ValueError:
        await websocket.close(CLOSE_POLICY)
        return
    # Browsers always send Origin on a WebSocket handshake; one without is not a page of ours.
    if (auth is None or "origin" not in websocket.headers
            or origin_problem(websocket, state.settings) is not None):
        await websocket.close(CLOSE_POLICY)
        return
    await _Socket(websocket, state, auth).run(after)


class _Socket:
    def __init__(self, websocket: WebSocket, state: AppState, auth: ActiveSession) -> None:
        self.ws = websocket
        self.state = state
        self.auth = auth
        self.bus = state.bus
        self.groups = audience(auth.principal)
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
        await self._send_text(event.wire_text())

    async def _send_text(self, text: str) -> None:
        async with self._send_lock:
            await self.ws.send_text(text)

    async def _replay(self, after: int) -> set[int]:
        sent: set[int] = set()
        async for event in replay(self.state.db, after, self.groups):
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
            current = await self._current_session()
            if current is None:
                return CLOSE_SESSION_ENDED
            if audience(current.principal) != self.groups:
                # What the user may hear changed (an admin unlinked a delegate's GP, a
                # specialty was taken away): reconnect, and hear only what is theirs now.
                await self._send({"type": "resync"})
                return CLOSE_RESYNC
            await self._send({"type": "ping"})

    async def _current_session(self) -> ActiveSession | None:
        token = self.ws.cookies.get(self.state.settings.session_cookie_name, "")
        current = await sessions.resolve(self.state.db, token, now=self.state.clock.now(),
                                         policy=session_policy(self.state.settings))
        if current is None or current.session_id != self.auth.session_id:
            return None
        return current


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/ws", events_socket)]

