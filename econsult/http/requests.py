"""Small helpers handlers share for reading input and naming the actor."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection, Request

from econsult.errors import InvalidInput, UnsupportedMedia
from econsult.http.auth import current_user
from econsult.security.audit import Actor

MAX_JSON_BYTES = 256 * 1024


def client_addr(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def actor_of(conn: HTTPConnection) -> Actor:
    user = current_user(conn)
    return Actor(id=user.id, email=user.email, client_addr=client_addr(conn))


async def json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise UnsupportedMedia("Send a JSON body (Content-Type: application/json).")
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidInput("The request body is too large.")
    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidInput("The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.", code="bad_json")
    return data


def text_field(data: dict[str, Any], name: str, *, required: bool = True,
               max_length: int = 10_000) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is required.", field=name)
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", field=name)
    if len(value) > max_length:
        raise InvalidInput(f"{name.replace('_', ' ').capitalize()} is too long "
                           f"(at most {max_length} characters).", field=name)
    return value
