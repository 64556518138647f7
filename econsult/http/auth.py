"""Authentication and CSRF, enforced for every route in one place (pure ASGI).

Each request's session is resolved from the cookie and left in the scope. Every
state-changing request must come from our own origin (Origin / Sec-Fetch-Site),
and, when it carries a session, must present that session's CSRF token: in the
X-CSRF-Token header, or as the `csrf_token` field of a urlencoded form.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econsult.accounts.login import session_policy
from econsult.config import Settings
from econsult.errors import NotAuthenticated, PermissionDenied, TooLarge
from econsult.http.errors import domain_error
from econsult.http.state import AppState, app_state
from econsult.security import sessions
from econsult.security.policy import Principal
from econsult.security.sessions import ActiveSession

logger = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AUTH_SCOPE_KEY = "econsult.auth"
_MAX_FORM_BYTES = 256 * 1024
_UNAUTHENTICATED_PATHS = ("/static/", "/healthz")
# Requests a page makes on its own (polling, the session's own status checks) carry
# this header; like the live socket, they are not the person's activity and do not
# keep an idle session alive.
BACKGROUND_HEADER = "x-econsult-background"
# Logging in replaces whatever session the browser had, so it needs no token from it;
# the origin check still stops another site from logging a victim in.
_LOGIN_PATHS = frozenset({"/login", "/api/v1/auth/login"})
# All a session opened with a temporary password may reach until a new one is chosen.
PASSWORD_CHANGE_PAGE = "/account/password"
_PASSWORD_CHANGE_PATHS = _LOGIN_PATHS | {PASSWORD_CHANGE_PAGE, "/logout", "/api/v1/auth/logout",
                                         "/api/v1/me"}
# All a session that passed the password but owes a second factor may reach; every
# other API answers 401 and every other page redirects to the MFA step.
MFA_PAGE = "/login/mfa"
_MFA_PATHS = _LOGIN_PATHS | {MFA_PAGE, "/logout", "/api/v1/auth/logout"}
_MFA_PREFIX = "/api/v1/auth/mfa/"


def expected_origin(conn: HTTPConnection, settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url
    return f"{conn.url.scheme.replace('ws', 'http')}://{conn.headers.get('host', '')}"


def origin_problem(conn: HTTPConnection, settings: Settings) -> str | None:
    """Why this request does not come from our own pages, or None if it does."""
    site = conn.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return "Cross-site requests are not accepted."
    origin = conn.headers.get("origin")
    if origin == "null" and site == "same-origin":
        # Under Referrer-Policy: no-referrer, browsers send "Origin: null" on our own
        # posts; Sec-Fetch-Site is set by the browser and cannot be forged by a page.
        return None
    if origin is not None and origin != expected_origin(conn, settings):
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
        state = app_state(conn)
        scope[AUTH_SCOPE_KEY] = auth = await _resolve(conn, state)
        if (auth is not None and auth.mfa_pending and scope["path"] not in _MFA_PATHS
                and not scope["path"].startswith(_MFA_PREFIX)):
            await _second_factor_first(scope, receive, send)
            return
        if (auth is not None and auth.must_change_password
                and scope["path"] not in _PASSWORD_CHANGE_PATHS):
            await _password_change_first(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            try:
                receive = await _check_unsafe(scope, receive, state.settings)
            except (PermissionDenied, TooLarge) as exc:
                response = await domain_error(Request(scope), exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _second_factor_first(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    request = Request(scope)
    if request.url.path.startswith("/api/") or "application/json" in request.headers.get(
            "accept", "").split(",")[0]:
        response = await domain_error(request, NotAuthenticated(
            "Complete the second factor first.", code="mfa_required"))
    else:
        response = RedirectResponse(MFA_PAGE, status_code=303)
    await response(scope, receive, send)


async def _password_change_first(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    request = Request(scope)
    if request.url.path.startswith("/api/") or "application/json" in request.headers.get(
            "accept", "").split(",")[0]:
        response = await domain_error(request, PermissionDenied(
            "Choose a new password first: your administrator set a temporary one.",
            code="password_change_required"))
    else:
        response = RedirectResponse(PASSWORD_CHANGE_PAGE, status_code=303)
    await response(scope, receive, send)


async def _resolve(conn: HTTPConnection, state: AppState) -> ActiveSession | None:
    token = conn.cookies.get(state.settings.session_cookie_name)
    if not token:
        return None
    now = state.clock.now()
    touches = state.session_touches
    auth = await sessions.resolve(state.db, token, now=now,
                                  policy=session_policy(state.settings), seen=touches.seen)
    if auth is not None and not is_background(conn):
        # Every request the person makes is remembered (the idle timeout holds to the
        # second here); the database is written at most once a minute a session. A
        # background request (a page's own refresh, the socket) is not activity.
        touches.record(auth.session_id, now, write=auth.needs_touch)
    return auth


def is_background(conn: HTTPConnection) -> bool:
    """Whether the request is not the person's own doing: the live socket, or a page's
    request marked with BACKGROUND_HEADER."""
    return conn.scope["type"] == "websocket" or BACKGROUND_HEADER in conn.headers


async def _check_unsafe(scope: Scope, receive: Receive, settings: Settings) -> Receive:
    conn = HTTPConnection(scope)
    problem = origin_problem(conn, settings)
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
