"""The login's second step (/login/mfa): enter a code, use a passkey or a recovery
code, or set up an authenticator app at a first login where one is required.

The page is a shell; web/static/js/login_mfa.js drives the JSON API under
/api/v1/auth/mfa (http.api_mfa), so the rules live in one place (accounts.mfa).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import mfa
from econsult.http.auth import AUTH_SCOPE_KEY, MFA_PAGE
from econsult.http.navigation import home_of
from econsult.http.pages_auth import safe_next
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.security.sessions import ActiveSession


async def mfa_page(request: Request) -> Response:
    auth: ActiveSession | None = request.scope.get(AUTH_SCOPE_KEY)
    next_path = safe_next(request.query_params.get("next"))
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    target = next_path or home_of(auth.principal)
    if not auth.mfa_pending:
        return RedirectResponse(target, status_code=303)
    methods = await mfa.pending_methods(app_state(request), auth)
    passkeys_here = bool(app_state(request).settings.public_url)
    return render(request, "login_mfa.html", {
        "methods": methods, "target": target, "email": auth.principal.email,
        "passkeys_here": passkeys_here})


def routes() -> list[BaseRoute]:
    return [Route(MFA_PAGE, mfa_page, methods=["GET"])]
