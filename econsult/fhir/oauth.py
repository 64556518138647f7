"""`POST /oauth/token`: SMART Backend Services' client_credentials grant.

Errors follow RFC 6749 section 5.2 (`{"error": "invalid_client", "error_description":
...}`), as OAuth clients expect, not the web API's `{"error": {...}}` shape: a
deliberate exception to the contract (docs/fhir.md). Every failed authentication gets
the same description, so a caller cannot learn which check it failed.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from econsult.accounts.client_tokens import OAuthError, TokenRequest, issue
from econsult.errors import DomainError, TooLarge, UnsupportedMedia
from econsult.fhir.params import form_body, token_url
from econsult.http.requests import client_addr
from econsult.http.state import app_state
from econsult.security.client_assertion import InvalidClient

log = logging.getLogger(__name__)
_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def token(request: Request) -> Response:
    state = app_state(request)
    try:
        form = await form_body(request)
        issued = await issue(state.db, state.clock, TokenRequest(
            grant_type=form.get("grant_type"),
            client_assertion_type=form.get("client_assertion_type"),
            client_assertion=form.get("client_assertion"),
            scope=form.get("scope"),
            client_id=form.get("client_id"),
        ), token_url=token_url(request), client_addr=client_addr(request))
    except InvalidClient as exc:
        log.info("token refused: %s", exc.reason)
        return _error(401, "invalid_client", exc.message)
    except (OAuthError, UnsupportedMedia, TooLarge) as exc:
        return _error(400, exc.code if isinstance(exc, OAuthError) else "invalid_request",
                      exc.message)
    except DomainError as exc:
        return _error(400, "invalid_request", exc.message)
    return JSONResponse({"access_token": issued.access_token, "token_type": issued.token_type,
                         "expires_in": issued.expires_in, "scope": issued.scope},
                        headers=_HEADERS)


def _error(status: int, code: str, description: str) -> Response:
    headers = dict(_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="econsult"'
    return JSONResponse({"error": code, "error_description": description},
                        status_code=status, headers=headers)
