"""Reading request input, the one place: JSON bodies, text, ids, times of day, instants.

One rule for date-times everywhere (query strings, JSON bodies, form fields): ISO 8601.
A date alone means midnight in the program's time zone; a date-time with a UTC offset
(or Z) is that instant; a date-time without one is wall-clock time in the program's
zone (what a browser's datetime-local field sends). Years outside 1900-2199 are
refused: no real consult, rota or report lives there, and such values break arithmetic
further on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import HTTPConnection, Request

from econsult.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from econsult.http.auth import current_user
from econsult.routing.wallclock import to_instant
from econsult.security.audit import Actor

MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 20
# Row ids are INTEGER columns (32-bit signed on PostgreSQL).
MAX_ID = 2**31 - 1
MIN_YEAR, MAX_YEAR = 1900, 2199
_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_EXAMPLE = "2026-03-02, 2026-03-02T09:00 or 2026-03-02T09:00:00-07:00"


def client_addr(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""


def actor_of(conn: HTTPConnection) -> Actor:
    user = current_user(conn)
    return Actor(id=user.id, email=user.email, client_addr=client_addr(conn))


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: at most MAX_JSON_BYTES (a declared Content-Length
    over it is refused before a byte is read, and the stream is cut off there too) and
    MAX_JSON_DEPTH levels of nesting (checked before parsing, so a 100,000-deep array
    costs a scan, not the parser's recursion)."""
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise UnsupportedMedia("Send a JSON body (Content-Type: application/json).")
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_JSON_BYTES):
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise InvalidInput("The request body is nested too deeply.", code="bad_json")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput("The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.", code="bad_json")
    if _depth(data) > MAX_JSON_DEPTH:
        raise InvalidInput("The request body is nested too deeply.", code="bad_json")
    if not _storable(data):
        raise InvalidInput("The request body contains a NUL character or an unpaired "
                           "surrogate, which no text field can hold.", code="bad_json")
    return data


def storable_text(text: str) -> bool:
    """Whether a database can hold `text` as text: no NUL (PostgreSQL refuses it) and
    no unpaired surrogate (not encodable as UTF-8 at all)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _storable(value: object) -> bool:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return all(storable_text(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _too_large() -> TooLarge:
    return TooLarge(f"The request body is larger than {MAX_JSON_BYTES // 1024} KB.",
                    code="body_too_large")


_BRACKETS = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*"')


def _nesting(raw: bytes) -> int:
    """The deepest bracket nesting in raw JSON text, strings skipped (an upper bound
    for malformed text, which the parser then refuses anyway)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _depth(value: object, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def text_field(data: Mapping[str, Any], name: str, *, required: bool = True,
               max_length: int = 10_000) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{_label(name)} is required.", field=name)
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text.", field=name)
    if len(value) > max_length:
        raise InvalidInput(f"{_label(name)} is too long (at most {max_length} characters).",
                           field=name)
    return value


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _short_text(value: object, name: str) -> str:
    if value is None or value == "":
        raise InvalidInput(f"{_label(name)} is required.", field=name)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{name} must be text.", field=name)
    return value.strip()


def parse_instant(value: object, name: str, tz: ZoneInfo) -> datetime:
    """An instant, in UTC, by the module's one rule for date-times."""
    # A '+' left unencoded in a query string arrives as a space.
    text = _SPACED_OFFSET.sub(r"+\1", _short_text(value, name))
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            _check_year(day.year, name)
            return to_instant(day, time(0), tz).astimezone(UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a date or date-time such as {_EXAMPLE}.",
                           field=name) from None
    _check_year(parsed.year, name)
    if parsed.tzinfo is None:
        return to_instant(parsed.date(), parsed.time(), tz).astimezone(UTC)
    return parsed.astimezone(UTC)


def parse_date(value: object, name: str) -> date:
    try:
        day = date.fromisoformat(_short_text(value, name)[:10])
    except ValueError:
        raise InvalidInput(f"{name} must be a date such as 2026-03-02.", field=name) from None
    _check_year(day.year, name)
    return day


def _check_year(year: int, name: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"{name} must be between {MIN_YEAR} and {MAX_YEAR}.", field=name)


def parse_clock(value: object, name: str) -> time:
    """A time of day such as 08:00 (24-hour)."""
    match = _CLOCK.match(_short_text(value, name))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(f"{name} must be a time of day such as 08:00.", field=name)
    return time(int(match[1]), int(match[2]))


def parse_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput(f"{name} must be {' or '.join(choices)}.", field=name)
    return value


def parse_small_int(value: object, name: str, low: int, high: int) -> int:
    """A whole number in [low, high], from JSON (a number) or a form (digits)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low} to {high}.", field=name)
    return value


def parse_id(value: object, what: str) -> int:
    """A row id from a path or form; anything else is simply not found (ids are
    positive and fit the database's integer columns: 32 bits on PostgreSQL, where a
    larger one was refused by the driver and answered 500)."""
    text = str(value)
    if not text.isdigit() or len(text) > 10 or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"No such {what}.")
    return int(text)


def is_row_id(text: str) -> bool:
    """Whether `text` could be a row id at all (digits, within MAX_ID)."""
    return text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID
