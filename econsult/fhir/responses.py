"""FHIR responses: `application/fhir+json` bodies, and an OperationOutcome for every
error /fhir answers (`endpoint` wraps each handler, so nothing escapes as the web
API's `{"error": ...}` shape or an HTML page)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from econsult import errors
from econsult.http.errors import status_for
from econsult.interop.fhir.bundles import operation_outcome
from econsult.interop.fhir.codes import MEDIA_TYPE

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
_NO_STORE = {"Cache-Control": "no-store"}


class FhirResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(self, content: dict[str, Any], status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(orjson.dumps(content), status_code=status_code,
                         headers={**_NO_STORE, **(headers or {})})


def outcome(status: int, message: str, *, code: str = "", expression: str | None = None,
            headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(operation_outcome(status, message, code=code, expression=expression),
                        status_code=status, headers=headers)


def error_response(exc: Exception) -> FhirResponse:
    if isinstance(exc, errors.DomainError):
        status = status_for(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, errors.NotAuthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="econsult", error="invalid_token"'
        elif exc.code == "insufficient_scope":
            headers["WWW-Authenticate"] = 'Bearer realm="econsult", error="insufficient_scope"'
        elif isinstance(exc, errors.RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        field = exc.field if isinstance(exc, errors.InvalidInput) else None
        return outcome(status, exc.message, code=exc.code, expression=field, headers=headers)
    if isinstance(exc, HTTPException):
        return outcome(exc.status_code, str(exc.detail or "Request refused."),
                       code=f"http_{exc.status_code}")
    log.exception("FHIR request failed", exc_info=exc)
    return outcome(500, "Something went wrong on our side; nothing was saved. Please try "
                        "again.", code="internal")


def endpoint(handler: Handler) -> Handler:
    """Every error the handler (or the services under it) raises, as an OperationOutcome."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - every error becomes an OperationOutcome
            return error_response(exc)

    return wrapped
