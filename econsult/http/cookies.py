"""The session cookie: HttpOnly, SameSite=Lax, and Secure with the __Host- prefix
behind HTTPS."""

from __future__ import annotations

from starlette.responses import Response

from econsult.config import Settings


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    # No Max-Age: a browser session cookie; the server enforces idle and absolute limits.
    response.set_cookie(settings.session_cookie_name, token, httponly=True, samesite="lax",
                        secure=settings.cookie_secure, path="/")


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(settings.session_cookie_name, httponly=True, samesite="lax",
                           secure=settings.cookie_secure, path="/")
