"""Authentication and CSRF, enforced for every route in one place (pure ASGI).

Each request's session is resolved from the cookie and left in the scope. Every
state-changing request must come from our own origin (Origin / Sec-Fetch-Site),
and, when it carries a session, must present that session's CSRF token: in the
X-CSRF-Token header, or as the `csrf_token` field of a urlencoded form.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econsult.accounts import session_policy
from econsult.errors import NotAuthenticated, PermissionDenied, TooLarge
from econsult.http.context import AppContext, get_ctx
from econsult.http.errors import domain_error
from econsult.security import sessions
from econsult.security.policy import Principal
from econsult.security.sessions import ActiveSession

logger = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUTH_SCOPE_KEY = "econsult.auth"
_MAX_FORM_BYTES = 256 * 1024
_UNAUTHENTICATED_PATHS = ("/static/", "/healthz")
# Logging in replaces whatever session the browser had, so it needs no token from it;
# the origin check still stops another site from logging a victim in.
_LOGIN_PATHS = frozenset({"/login", "/api/v1/auth/login"})


def expected_origin(conn: HTTPConnection, ctx: AppContext) -> str:
    if ctx.settings.public_url:
        return ctx.settings.public_url
    return f"{conn.url.scheme.replace('ws', 'http')}://{conn.headers.get('host', '')}"


def origin_problem(conn: HTTPConnection, ctx: AppContext) -> str | None:
    """Why this request does not come from our own pages, or None if it does."""
    site = conn.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return "Cross-site requests are not accepted."
    origin = conn.headers.get("origin")
    if origin == "null" and site == "same-origin":
        # Under Referrer-Policy: no-referrer, browsers send "Origin: null" on our own
        # posts; Sec-Fetch-Site is set by the browser and cannot be forged by a page.
        return None
    if origin is not None and origin != expected_origin(conn, ctx):
        return "Requests from another site are not accepted."
    return None


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(
            _UNAUTHENTICATED_PATHS
        ):
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        ctx = get_ctx(conn)
        scope[AUTH_SCOPE_KEY] = await _resolve(conn, ctx)
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            try:
                receive = await _check_unsafe(scope, receive, ctx)
            except (PermissionDenied, TooLarge) as exc:
                response = await domain_error(Request(scope), exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _resolve(conn: HTTPConnection, ctx: AppContext) -> ActiveSession | None:
    token = conn.cookies.get(ctx.settings.session_cookie_name)
    if not token:
        return None
    now = ctx.clock.now()
    policy = session_policy(ctx.settings)
    touches: SessionTouches | None = ctx.extras.get("session_touches")
    if touches is None:
        touches = ctx.extras["session_touches"] = SessionTouches()
    auth = await sessions.resolve(ctx.db, token, now=now, policy=policy, seen=touches.seen)
    if auth is not None and auth.needs_touch:
        touches.record(ctx, auth.session_id, now)
    return auth


class SessionTouches:
    """Refreshing a session's last-seen time is a write; on SQLite it would queue this
    request behind every other writer (photo submissions). So it is written in the
    background, and remembered here meanwhile so this process never idles out a
    session it has just seen."""

    def __init__(self) -> None:
        self.seen: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, ctx: AppContext, session_id: int, now: datetime) -> None:
        self.seen[session_id] = now
        task = asyncio.create_task(self._write(ctx, session_id, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Let pending writes finish (at shutdown, before the engines close)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _write(self, ctx: AppContext, session_id: int, now: datetime) -> None:
        try:
            async with ctx.db.write() as db:
                await sessions.touch(db, session_id, now=now)
        except Exception:  # the in-memory time still holds; the next touch retries
            logger.exception("could not refresh session %s", session_id)
        else:
            if self.seen.get(session_id) == now:
                del self.seen[session_id]


async def _check_unsafe(scope: Scope, receive: Receive, ctx: AppContext) -> Receive:
    conn = HTTPConnection(scope)
    problem = origin_problem(conn, ctx)
    if problem:
        raise PermissionDenied(problem, code="bad_origin")
    auth: ActiveSession | None = scope[AUTH_SCOPE_KEY]
    if auth is None or scope["path"] in _LOGIN_PATHS:
        return receive  # nothing to forge; handlers that need a session answer 401
    given = conn.headers.get("x-csrf-token")
    content_type = conn.headers.get("content-type", "")
    if not given and content_type.startswith("application/x-www-form-urlencoded"):
        body = await _read_body(receive)
        values = parse_qs(body.decode("latin-1")).get("csrf_token")
        given = values[0] if values else None
        receive = _replay(body, receive)
    if not sessions.csrf_matches(auth.csrf_token, given):
        raise PermissionDenied("Missing or invalid CSRF token; reload the page and try again.",
                               code="csrf")
    return receive


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            raise TooLarge("The form is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def current_session(conn: HTTPConnection) -> ActiveSession:
    auth: ActiveSession | None = conn.scope.get(AUTH_SCOPE_KEY)
    if auth is None:
        raise NotAuthenticated("Please log in.")
    return auth


def existing_session_id(conn: HTTPConnection) -> int | None:
    auth: ActiveSession | None = conn.scope.get(AUTH_SCOPE_KEY)
    return auth.session_id if auth else None


def current_user(conn: HTTPConnection) -> Principal:
    return current_session(conn).principal
