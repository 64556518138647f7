"""ISO 8601 durations for target windows ("PT30M", "PT2H", "P2D", "P7D", "P1W").

Only durations of a fixed length are accepted: years and months are refused because
their length depends on the date they start from, which a target window must not.
"""

from __future__ import annotations

from datetime import timedelta

import isodate

_EXAMPLES = "such as PT30M, PT2H, P2D or P7D"


class InvalidDuration(ValueError):
    """A duration a staff user typed cannot be used; the message says why."""


def parse_duration(text: str) -> timedelta:
    """Parse a positive ISO 8601 duration made of weeks, days, hours, minutes, seconds."""
    if not isinstance(text, str):
        raise InvalidDuration(f"a duration must be text {_EXAMPLES}, not {type(text).__name__}")
    cleaned = text.strip().upper()
    if not cleaned:
        raise InvalidDuration(f"a duration is required, {_EXAMPLES}")
    try:
        value = isodate.parse_duration(cleaned)
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise InvalidDuration(
            f"{text!r} is not an ISO 8601 duration {_EXAMPLES}"
        ) from exc
    if isinstance(value, isodate.Duration):
        # isodate returns its own Duration type only when years or months are present.
        raise InvalidDuration(
            f"{text!r} uses years or months, whose length varies; "
            "use days or weeks instead (e.g. P30D rather than P1M)"
        )
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidDuration(f"{text!r} must be longer than zero")
    return value


def format_duration(value: timedelta) -> str:
    """Canonical text for a positive duration: days, then hours, minutes, seconds.

    Weeks are written as days ("P7D", not "P1W") so every value has one spelling.
    """
    if value <= timedelta(0):
        raise InvalidDuration(f"a duration must be longer than zero (got {value})")
    days = value.days
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    date_part = f"{days}D" if days else ""
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if seconds or value.microseconds:
        time_part += _seconds(seconds, value.microseconds) + "S"
    return "P" + date_part + ("T" + time_part if time_part else "")


def _seconds(seconds: int, microseconds: int) -> str:
    if not microseconds:
        return str(seconds)
    return f"{seconds}.{microseconds:06d}".rstrip("0")
