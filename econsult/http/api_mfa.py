"""JSON API for the second factor, under /api/v1/auth/mfa: the login's second step
(pending sessions) and managing one's own factors (complete sessions).

Every handler parses, calls one service of `econsult.accounts.mfa`, and renders; the
service decides what a pending or a complete session may do.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import mfa, mfa_passkeys
from econsult.accounts.login import LoginResult
from econsult.errors import InvalidInput
from econsult.http.auth import current_session
from econsult.http.cookies import set_session_cookie
from econsult.http.requests import client_addr, json_body, text_field
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state

_NO_STORE = {"Cache-Control": "no-store"}


def completed(request: Request, result: LoginResult, **extra: object) -> Response:
    """The answer that completes a login: the new session's cookie, user and CSRF."""
    body = {"user": result.user.model_dump(mode="json"), "csrf_token": result.csrf_token,
            "amr": list(result.amr), **extra}
    response = JSONResponse(body, headers=_NO_STORE)
    set_session_cookie(response, app_state(request).settings, result.token)
    return response


def _credential(data: dict[str, object]) -> str:
    value = data.get("credential")
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, str) and value:
        return value
    raise InvalidInput("Send the passkey's response as credential.", field="credential")


async def get_status(request: Request) -> Response:
    """
    summary: Your second factors (complete session)
    description: Whether your role requires a second factor, whether an authenticator app is set up, your passkeys, and how many recovery codes are left.
    responses:
      200:
        description: the status
        content:
          application/json:
            schema:
              type: object
              properties:
                required: {type: boolean}
                totp: {type: boolean}
                recovery_codes_left: {type: integer}
                passkeys:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: string}
                      name: {type: string}
                      created_at: {type: string, format: date-time}
                      last_used_at: {type: string, format: date-time, nullable: true}
                      flagged: {type: boolean}
      401: {description: "not logged in, or the second factor is still owed (code mfa_required)"}
    """  # noqa: E501
    found = await mfa.status(app_state(request), current_session(request))
    return JSONResponse({
        "required": found.required, "totp": found.totp,
        "recovery_codes_left": found.recovery_codes_left,
        "passkeys": [{"id": p.id, "name": p.name, "created_at": p.created_at.isoformat(),
                      "last_used_at": p.last_used_at.isoformat() if p.last_used_at else None,
                      "flagged": p.flagged} for p in found.passkeys],
    }, headers=_NO_STORE)


async def totp_enrol(request: Request) -> Response:
    """
    summary: Begin setting up an authenticator app (TOTP)
    description: A new secret, its otpauth:// URI and a QR code (inline SVG) for the app. Open to a pending session whose person has no factor yet (first login where one is required) and to a complete session (replacing the app). Nothing changes until confirmed. Needs X-CSRF-Token.
    requestBody:
      required: false
      content:
        application/json:
          schema: {type: object}
    responses:
      200:
        description: the new secret (shown once)
        content:
          application/json:
            schema:
              type: object
              properties:
                secret: {type: string, description: base32}
                otpauth_uri: {type: string}
                qr_svg: {type: string, description: an inline SVG of the URI}
      401: {description: "not logged in; or a pending session of someone who has a factor already (code mfa_required)"}
      403: {description: missing or wrong CSRF token}
    """  # noqa: E501
    found = await mfa.enrol_totp(app_state(request), current_session(request),
                                 client_addr=client_addr(request))
    return JSONResponse({"secret": found.secret, "otpauth_uri": found.otpauth_uri,
                         "qr_svg": found.qr_svg}, headers=_NO_STORE)


async def totp_confirm(request: Request) -> Response:
    """
    summary: Confirm the authenticator app with a code from it
    description: The app becomes your second factor (replacing any earlier one) and ten new single-use recovery codes are returned, shown this once. For a pending session this completes the login, with a new session cookie, user and csrf_token in the answer.
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [code]
            properties:
              code: {type: string, example: "123456"}
    responses:
      200:
        description: "{recovery_codes} and, when it completed a login, {user, csrf_token, amr}"
        content:
          application/json:
            schema:
              type: object
              properties:
                recovery_codes: {type: array, items: {type: string}}
                user: {type: object}
                csrf_token: {type: string}
                amr: {type: array, items: {type: string}}
      400: {description: "wrong code (mfa_failed), or no enrolment waiting (no_enrolment)"}
      401: {description: not logged in}
      403: {description: missing or wrong CSRF token}
      429: {description: too many wrong codes; Retry-After says when to try again}
    """  # noqa: E501
    data = await json_body(request)
    found = await mfa.confirm_totp(app_state(request), current_session(request),
                                   code=text_field(data, "code", max_length=32),
                                   client_addr=client_addr(request))
    if found.login is not None:
        return completed(request, found.login, recovery_codes=found.recovery_codes)
    return JSONResponse({"recovery_codes": found.recovery_codes}, headers=_NO_STORE)


async def verify(request: Request) -> Response:
    """
    summary: Complete a login with a TOTP code or a recovery code
    description: For the pending session the password step opened. Each TOTP code is accepted once, ever, within one step (30 s) of the server's clock; each recovery code once. Success revokes the pending session and sets a new, complete session cookie.
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            properties:
              code: {type: string, description: six digits from the app}
              recovery_code: {type: string, description: "one of the ten codes, xxxx-xxxx-xxxx"}
    responses:
      200:
        description: "{user, csrf_token, amr}"
        content:
          application/json:
            schema:
              type: object
              properties:
                user: {type: object}
                csrf_token: {type: string}
                amr: {type: array, items: {type: string}}
      400: {description: "wrong, old or reused code (mfa_failed), or neither or both fields given"}
      401: {description: not logged in}
      403: {description: missing or wrong CSRF token}
      409: {description: this session has completed its login already}
      429: {description: too many wrong codes; Retry-After says when to try again}
    """  # noqa: E501
    data = await json_body(request)
    code = text_field(data, "code", required=False, max_length=64) or None
    recovery = text_field(data, "recovery_code", required=False, max_length=64) or None
    result = await mfa.verify(app_state(request), current_session(request), code=code,
                              recovery_code=recovery, client_addr=client_addr(request))
    return completed(request, result)


async def recovery_codes(request: Request) -> Response:
    """
    summary: Replace your recovery codes with ten new ones (complete session)
    description: The old codes stop working. The new ones are shown this once.
    requestBody:
      required: false
      content:
        application/json:
          schema: {type: object}
    responses:
      200:
        description: "{recovery_codes}"
        content:
          application/json:
            schema:
              type: object
              properties:
                recovery_codes: {type: array, items: {type: string}}
      400: {description: no authenticator app or passkey set up yet (no_factor)}
      401: {description: "not logged in, or the second factor is still owed"}
      403: {description: missing or wrong CSRF token}
    """
    codes = await mfa.regenerate_recovery_codes(app_state(request), current_session(request),
                                                client_addr=client_addr(request))
    return JSONResponse({"recovery_codes": codes}, headers=_NO_STORE)


async def webauthn_register_options(request: Request) -> Response:
    """
    summary: Options for registering a passkey (complete session)
    description: The PublicKeyCredentialCreationOptions JSON for navigator.credentials.create. The challenge is kept server-side for three minutes and can be answered once.
    requestBody:
      required: false
      content:
        application/json:
          schema: {type: object}
    responses:
      200:
        description: "{publicKey: options}"
        content:
          application/json:
            schema:
              type: object
              properties:
                publicKey: {type: object}
      400: {description: passkeys are not available on this site's address (passkeys_unavailable)}
      401: {description: "not logged in, or the second factor is still owed"}
      403: {description: missing or wrong CSRF token}
    """  # noqa: E501
    options = await mfa_passkeys.passkey_register_options(app_state(request),
                                                          current_session(request))
    return JSONResponse({"publicKey": json.loads(options)}, headers=_NO_STORE)


async def webauthn_register_verify(request: Request) -> Response:
    """
    summary: Register a passkey with the browser's answer (complete session)
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [credential]
            properties:
              credential: {type: object, description: the PublicKeyCredential as JSON}
              name: {type: string, description: a label for the passkey}
    responses:
      201:
        description: "{id, name}"
        content:
          application/json:
            schema:
              type: object
              properties:
                id: {type: string}
                name: {type: string}
      400: {description: "not verified, expired or already registered (passkey_failed)"}
      401: {description: "not logged in, or the second factor is still owed"}
      403: {description: missing or wrong CSRF token}
    """
    data = await json_body(request)
    found = await mfa_passkeys.passkey_register_verify(
        app_state(request), current_session(request), credential_json=_credential(data),
        name=text_field(data, "name", required=False, max_length=100),
        client_addr=client_addr(request))
    return JSONResponse({"id": found.id, "name": found.name}, status_code=201)


async def webauthn_remove(request: Request) -> Response:
    """
    summary: Remove one of your passkeys (complete session)
    parameters:
      - name: id
        in: path
        required: true
        description: the passkey's id, from /auth/mfa/status
        schema: {type: string, maxLength: 32}
    responses:
      204: {description: removed}
      401: {description: "not logged in, or the second factor is still owed"}
      403: {description: missing or wrong CSRF token}
      404: {description: no such passkey of yours}
    """
    await mfa_passkeys.passkey_remove(app_state(request), current_session(request),
                             passkey_id=str(request.path_params["id"]),
                             client_addr=client_addr(request))
    return Response(status_code=204)


async def webauthn_authenticate_options(request: Request) -> Response:
    """
    summary: Options for logging in with a passkey (pending session)
    description: The PublicKeyCredentialRequestOptions JSON for navigator.credentials.get, limited to the passkeys of the person whose password was given.
    requestBody:
      required: false
      content:
        application/json:
          schema: {type: object}
    responses:
      200:
        description: "{publicKey: options}"
        content:
          application/json:
            schema:
              type: object
              properties:
                publicKey: {type: object}
      400: {description: "no passkey registered (no_passkey), or passkeys unavailable here"}
      401: {description: not logged in}
      403: {description: missing or wrong CSRF token}
      409: {description: this session has completed its login already}
    """  # noqa: E501
    options = await mfa_passkeys.passkey_login_options(app_state(request), current_session(request))
    return JSONResponse({"publicKey": json.loads(options)}, headers=_NO_STORE)


async def webauthn_authenticate_verify(request: Request) -> Response:
    """
    summary: Complete a login with a passkey (pending session)
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [credential]
            properties:
              credential: {type: object, description: the PublicKeyCredential as JSON}
    responses:
      200:
        description: "{user, csrf_token, amr}"
        content:
          application/json:
            schema:
              type: object
              properties:
                user: {type: object}
                csrf_token: {type: string}
                amr: {type: array, items: {type: string}}
      400: {description: "not verified or expired (passkey_failed), or its counter went backwards (passkey_cloned)"}
      401: {description: not logged in}
      403: {description: missing or wrong CSRF token}
      409: {description: this session has completed its login already}
      429: {description: too many failures; Retry-After says when to try again}
    """  # noqa: E501
    data = await json_body(request)
    result = await mfa_passkeys.passkey_login_verify(app_state(request), current_session(request),
                                            credential_json=_credential(data),
                                            client_addr=client_addr(request))
    return completed(request, result)


def routes() -> list[BaseRoute]:
    """Paths under /api/v1 (http.auth lets a pending session reach /auth/mfa/* only)."""
    return [
        Route("/auth/mfa/status", get_status, methods=["GET"]),
        Route("/auth/mfa/totp/enrol", totp_enrol, methods=["POST"]),
        Route("/auth/mfa/totp/confirm", totp_confirm, methods=["POST"]),
        Route("/auth/mfa/verify", verify, methods=["POST"]),
        Route("/auth/mfa/recovery-codes", recovery_codes, methods=["POST"]),
        Route("/auth/mfa/webauthn/register/options", webauthn_register_options,
              methods=["POST"]),
        Route("/auth/mfa/webauthn/register/verify", webauthn_register_verify,
              methods=["POST"]),
        Route("/auth/mfa/webauthn/passkeys/{id}", webauthn_remove, methods=["DELETE"]),
        Route("/auth/mfa/webauthn/authenticate/options", webauthn_authenticate_options,
              methods=["POST"]),
        Route("/auth/mfa/webauthn/authenticate/verify", webauthn_authenticate_verify,
              methods=["POST"]),
    ]
