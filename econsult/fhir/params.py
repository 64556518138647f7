"""Reading /fhir input: the bearer token, the FHIR base URL, search query strings and
the JSON body. (The FHIR face's counterpart of econsult/http/requests.py, whose one
date-time rule `_lastUpdated` follows.)"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request

from econsult.accounts.client_tokens import authenticate
from econsult.errors import InvalidInput, NotAuthenticated, NotFound, TooLarge, UnsupportedMedia
from econsult.http.requests import client_addr, parse_instant
from econsult.http.state import app_state
from econsult.interop.fhir.codes import health_number_system
from econsult.interop.fhir.query import (
    DEFAULT_COUNT,
    MAX_COUNT,
    SEARCHABLE,
    DateBound,
    SearchQuery,
    decode_cursor,
)
from econsult.interop.fhir.search import FhirContext
from econsult.security.policy import Principal

_CONTROLS = frozenset({"_count", "_cursor", "_include", "_revinclude", "_lastUpdated",
                       "_format"})
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json"})
_PREFIX = re.compile(r"^(eq|ge|gt|le|lt)?(.+)$")
_FRACTION = re.compile(r"T\d{2}:\d{2}:\d{2}\.(\d{1,6})")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_BEARER = re.compile(r"Bearer +([A-Za-z0-9_\-]{1,100})", re.IGNORECASE)


def site_url(conn: HTTPConnection) -> str:
    public = app_state(conn).settings.public_url
    return public or f"{conn.url.scheme}://{conn.url.netloc}"


def token_url(conn: HTTPConnection) -> str:
    return f"{site_url(conn)}/oauth/token"


def context(conn: HTTPConnection) -> FhirContext:
    settings = app_state(conn).settings
    return FhirContext(base=f"{site_url(conn)}/fhir",
                       health_number_system=health_number_system(settings.holidays_region),
                       client_addr=client_addr(conn))


async def api_client(request: Request) -> Principal:
    """The API client the bearer token was issued to; 401 for anything else."""
    match = _BEARER.fullmatch(request.headers.get("authorization", "").strip())
    state = app_state(request)
    principal = (await authenticate(state.db, state.clock, match[1])) if match else None
    if principal is None:
        raise NotAuthenticated("Send a valid access token (Authorization: Bearer ...) from "
                               "POST /oauth/token; tokens last five minutes.")
    return principal


def resource_type(request: Request) -> str:
    rt = str(request.path_params["type"])
    if rt not in SEARCHABLE:
        raise NotFound(f"econsult does not serve {rt[:40]} resources.")
    return rt


def resource_id(request: Request) -> str:
    rid = str(request.path_params["id"])
    if not _ID.fullmatch(rid):
        raise NotFound("No such resource.")
    return rid


def search_query(request: Request, rt: str) -> SearchQuery:
    params: list[tuple[str, str]] = []
    bounds: list[DateBound] = []
    includes: list[str] = []
    revincludes: list[str] = []
    count, cursor = DEFAULT_COUNT, None
    tz = app_state(request).settings.timezone
    for name, value in request.query_params.multi_items():
        if name == "_count":
            if not value.isdigit() or not 0 < int(value) <= MAX_COUNT:
                raise InvalidInput(f"_count must be 1 to {MAX_COUNT}.", field="_count")
            count = int(value)
        elif name == "_cursor":
            cursor = decode_cursor(value)
        elif name == "_include":
            includes.append(value)
        elif name == "_revinclude":
            revincludes.append(value)
        elif name == "_lastUpdated":
            bounds.append(_date_bound(value, tz))
        elif name == "_format":
            if value not in _JSON_FORMATS:
                raise InvalidInput("Only JSON is served (_format=json).", field="_format")
        elif name.startswith("_") and name not in _CONTROLS and name != "_id":
            raise InvalidInput(f"The search control {name[:40]} is not supported.",
                               code="unsupported_parameter", field=name[:40])
        else:
            params.append((name, value))
    return SearchQuery(rt, tuple(params), tuple(bounds), tuple(includes), tuple(revincludes),
                       count, cursor)


def _date_bound(value: str, tz: Any) -> DateBound:
    match = _PREFIX.match(value.strip())
    if not match:
        raise InvalidInput("_lastUpdated needs a date or instant.", field="_lastUpdated")
    prefix, text = match[1] or "eq", match[2]
    at = parse_instant(text, "_lastUpdated", tz)
    fraction = _FRACTION.search(text)
    precision = (timedelta(days=1) if len(text) == 10 else
                 timedelta(microseconds=10 ** (6 - len(fraction[1]))) if fraction else
                 timedelta(seconds=1))
    return DateBound(prefix, at, precision)


async def json_body(request: Request, max_bytes: int) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type not in ("application/fhir+json", "application/json"):
        raise UnsupportedMedia("Send the Bundle as application/fhir+json.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"The Bundle is larger than {max_bytes // (1024 * 1024)} MB.")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise InvalidInput("The body is not valid JSON.", code="bad_json") from None


async def form_body(request: Request, max_bytes: int = 16 * 1024) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, each field given at most once."""
    from urllib.parse import parse_qsl

    if request.headers.get("content-type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        raise UnsupportedMedia("Send the token request as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge("The token request is too large.")
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if name in fields:
            raise InvalidInput(f"{name} is given twice.", code="invalid_request", field=name)
        fields[name] = value
    return fields
