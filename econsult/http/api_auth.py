"""JSON API: login, logout, who am I."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from econsult.accounts import login as accounts
from econsult.accounts.users import public_from_principal
from econsult.http.auth import current_session, existing_session_id
from econsult.http.cookies import clear_session_cookie, set_session_cookie
from econsult.http.requests import actor_of, client_addr, json_body, text_field
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state


async def login(request: Request) -> Response:
    """
    summary: Log in with email and password
    description: Sets an HttpOnly SameSite=Lax session cookie. 401 for any bad credentials, 429 with Retry-After after repeated failures. When a second factor is owed the answer is {mfa_required, methods, csrf_token} and the cookie is a pending session that may call only /auth/mfa/* and /auth/logout; methods is ["enrol"] for someone who must set one up first.
    security: []
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [email, password]
            properties:
              email: {type: string, maxLength: 254}
              password: {type: string, maxLength: 1024}
    responses:
      200: {description: "{user, csrf_token}, or {mfa_required: true, methods, csrf_token}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      415: {$ref: "#/components/responses/UnsupportedMedia"}
      429: {description: "Too many failures for this account from this address, or from this address; Retry-After says when to try again"}
    """  # noqa: E501
    ctx = app_state(request)
    data = await json_body(request)
    result = await accounts.login(
        ctx.db,
        email=text_field(data, "email", max_length=254),
        password=text_field(data, "password", max_length=1024),
        client_addr=client_addr(request),
        settings=ctx.settings,
        clock=ctx.clock,
        passwords=ctx.passwords,
        replaces_session=existing_session_id(request),
    )
    if result.mfa_required:
        response = JSONResponse({"mfa_required": True, "methods": list(result.methods),
                                 "csrf_token": result.csrf_token},
                                headers={"Cache-Control": "no-store"})
    else:
        response = JSONResponse({"user": result.user.model_dump(mode="json"),
                                 "csrf_token": result.csrf_token})
    set_session_cookie(response, ctx.settings, result.token)
    return response


async def logout(request: Request) -> Response:
    """
    summary: End this session (the token is revoked on the server)
    x-no-body: true
    responses:
      204: {description: logged out}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    ctx = app_state(request)
    auth = current_session(request)
    await accounts.logout(ctx.db, session_id=auth.session_id, actor=actor_of(request),
                          clock=ctx.clock)
    response = Response(status_code=204)
    clear_session_cookie(response, ctx.settings)
    return response


async def me(request: Request) -> Response:
    """
    summary: The logged-in user and this session's CSRF token
    responses:
      200: {description: "{user, csrf_token}"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
    """
    auth = current_session(request)
    user = public_from_principal(auth.principal)
    return JSONResponse({"user": user.model_dump(mode="json"), "csrf_token": auth.csrf_token})
