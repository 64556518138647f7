"""HTML pages: log in, log out, and the landing redirect by role."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult.accounts import login as accounts
from econsult.errors import BadCredentials, InvalidInput, RateLimited
from econsult.http.auth import (
    AUTH_SCOPE_KEY,
    MFA_PAGE,
    current_session,
    current_user,
    existing_session_id,
)
from econsult.http.cookies import clear_session_cookie, set_session_cookie
from econsult.http.navigation import home_of
from econsult.http.requests import actor_of, client_addr
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.security.policy import Principal


def safe_next(value: str | None) -> str | None:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return None


async def home(request: Request) -> Response:
    user = current_user(request)
    return RedirectResponse(home_of(user), status_code=303)


def _login_context(request: Request) -> dict[str, object]:
    # Said on the page, so nobody mistakes a demo for how a real deployment logs in.
    return {"mfa_off": not app_state(request).settings.mfa_required}


async def login_page(request: Request) -> Response:
    auth = request.scope.get(AUTH_SCOPE_KEY)
    if auth is not None and not auth.mfa_pending:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", {"next": safe_next(request.query_params.get("next")),
                                          **_login_context(request)})


async def login_submit(request: Request) -> Response:
    ctx = app_state(request)
    form = await request.form()
    email = str(form.get("email") or "")[:254]
    password = str(form.get("password") or "")[:1024]
    next_path = safe_next(str(form.get("next") or ""))
    try:
        if not email or not password:
            raise InvalidInput("Enter your email and password.")
        result = await accounts.login(ctx.db, email=email, password=password,
                                      client_addr=client_addr(request), settings=ctx.settings,
                                      clock=ctx.clock, passwords=ctx.passwords,
                                      replaces_session=existing_session_id(request))
    except (BadCredentials, InvalidInput, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else (
            401 if isinstance(exc, BadCredentials) else 400)
        response = render(request, "login.html",
                          {"error": exc.message, "email": email, "next": next_path,
                           **_login_context(request)},
                          status_code=status)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if result.mfa_required:
        step = MFA_PAGE + ("?" + urlencode({"next": next_path}) if next_path else "")
        redirect = RedirectResponse(step, status_code=303)
        set_session_cookie(redirect, ctx.settings, result.token)
        return redirect
    target = next_path or home_of(Principal(id=result.user.id, role=result.user.role))
    redirect = RedirectResponse(target, status_code=303)
    set_session_cookie(redirect, ctx.settings, result.token)
    return redirect


async def logout_submit(request: Request) -> Response:
    ctx = app_state(request)
    if request.scope.get(AUTH_SCOPE_KEY) is not None:
        auth = current_session(request)
        await accounts.logout(ctx.db, session_id=auth.session_id, actor=actor_of(request),
                              clock=ctx.clock)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, ctx.settings)
    return response
