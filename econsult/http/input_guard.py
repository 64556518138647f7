"""Text a database cannot hold is refused at the door: a path or query string with a
NUL character (PostgreSQL refuses NUL in text: a `%00` in a slug or a filter reached
the database and answered 500) or that is not valid UTF-8. JSON bodies and form
fields get the same rule where they are parsed (`requests.json_body`, `uploads`)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from econsult.http.errors import error_json


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not _acceptable(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1007})
                return
            response = error_json(400, "bad_request_target", "The address contains a NUL "
                                  "character or is not valid UTF-8.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _acceptable(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if "\x00" in path:
        return False
    try:
        path.encode("utf-8")
        query = unquote_to_bytes(scope.get("query_string", b"").replace(b"+", b" "))
        query.decode("utf-8")
    except UnicodeError:
        return False
    return b"\x00" not in query
