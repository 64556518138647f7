"""Security headers on every response (pure ASGI: no BaseHTTPMiddleware buffering)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline script, no eval
        "style-src 'self'",
        "img-src 'self' blob: data:",  # blob: for photo previews before upload
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def apply_security_headers(headers: MutableHeaders, *, hsts: bool, static: bool) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "geolocation=(), microphone=(), camera=(self)"
    if hsts:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if static:
        headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        # Pages and API answers may hold patient data: never keep a copy.
        headers["Cache-Control"] = "no-store"


class SecurityHeadersMiddleware:
    """Starlette's ServerErrorMiddleware sits outside every user middleware, so the
    500 handler (econsult.http.errors.server_error) applies the same headers itself."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                apply_security_headers(MutableHeaders(scope=message), hsts=self.hsts,
                                       static=is_static)
            await send(message)

        await self.app(scope, receive, send_with_headers)
