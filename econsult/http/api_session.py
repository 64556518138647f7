"""JSON API for the page's own view of its session: when it ends if nothing happens, and
"stay signed in". The pages' session script (web/static/js/session.js) warns two
minutes before the idle logoff from these."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.http.auth import current_session
from econsult.http.responses import JSONResponse
from econsult.http.state import AppState, app_state
from econsult.security.sessions import ActiveSession

# The warning comes this long before the idle logoff (half the idle time when that is
# shorter, as in a test's one-minute sessions).
WARN_BEFORE = timedelta(minutes=2)


def _status(state: AppState, auth: ActiveSession) -> JSONResponse:
    idle = timedelta(minutes=state.settings.session_idle_minutes)
    now = state.clock.now()
    ends = auth.ends_at(idle, state.session_touches.seen.get(auth.session_id))
    left = max(0.0, (ends - now).total_seconds())
    return JSONResponse({
        "ends_at": ends.isoformat(), "seconds_left": round(left, 1),
        "idle_seconds": idle.total_seconds(),
        "warn_seconds": min(WARN_BEFORE, idle / 2).total_seconds(),
    }, headers={"Cache-Control": "no-store"})


async def session_status(request: Request) -> Response:
    """
    summary: When this session ends if nothing else happens
    description: "Asking does not extend the session (pages send it with the header X-Econsult-Background: 1, which no request counts as activity with)."
    responses:
      200: {description: "{ends_at, seconds_left, idle_seconds, warn_seconds}"}
      401: {description: "The session has ended (idle, logged out, or revoked)"}
    """  # noqa: E501
    return _status(app_state(request), current_session(request))


async def keepalive(request: Request) -> Response:
    """
    summary: Stay signed in (the person asked to); restarts the idle timer
    x-no-body: true
    responses:
      200: {description: "{ends_at, seconds_left, idle_seconds, warn_seconds}"}
      401: {description: "The session has ended already"}
      403: {description: "Missing or invalid CSRF token"}
    """
    state = app_state(request)
    auth = current_session(request)
    state.session_touches.record(auth.session_id, state.clock.now())
    return _status(state, auth)


def routes() -> list[BaseRoute]:
    return [
        Route("/session", session_status, methods=["GET"]),
        Route("/session/keepalive", keepalive, methods=["POST"]),
    ]
