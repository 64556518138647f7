"""Domain errors mapped to HTTP in one table; JSON for the API, a page for browsers."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult import errors
from econsult.http.responses import JSONResponse
from econsult.http.security_headers import apply_security_headers
from econsult.http.templating import render

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 400,
    errors.NotAuthenticated: 401,
    errors.BadCredentials: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.RateLimited: 429,
    errors.DataCorrupt: 500,
}


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    ).split(",")[0]


def error_json(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if wants_json(request):
        extra = {"field": exc.field} if isinstance(exc, errors.InvalidInput) and exc.field else {}
        response: Response = error_json(status, exc.code, exc.message, **extra)
    elif isinstance(exc, errors.NotAuthenticated):
        # Keep the query too, encoded, so a timed-out user lands back on the same view.
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)
    else:
        response = render(request, "error.html", {"status": status, "message": exc.message},
                          status_code=status)
    response.headers.update(headers)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "Not found.", 405: "Method not allowed."}
    message = exc.detail if exc.detail and exc.status_code not in messages else messages.get(
        exc.status_code, str(exc.detail))
    if wants_json(request):
        return error_json(exc.status_code, f"http_{exc.status_code}", message)
    return render(request, "error.html", {"status": exc.status_code, "message": message},
                  status_code=exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    message = "Something went wrong on our side; nothing was saved. Please try again."
    response: Response
    if wants_json(request):
        response = error_json(500, "internal", message)
    else:
        response = render(request, "error.html", {"status": 500, "message": message},
                          status_code=500)
    # This handler runs in ServerErrorMiddleware, outside SecurityHeadersMiddleware.
    state = getattr(request.app.state, "econsult", None)
    apply_security_headers(response.headers, hsts=bool(state and state.settings.cookie_secure),
                           static=False)
    return response


EXCEPTION_HANDLERS = {
    errors.DomainError: domain_error,
    HTTPException: http_error,
    Exception: server_error,
}
