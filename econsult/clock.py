"""Where "now" comes from (so timeouts and deadlines can be tested by moving a clock),
and where local time zones come from."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Protocol
from zoneinfo import ZoneInfo

import tzdata


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 17, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = when


_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,2}$")


class UnknownZone(ValueError):
    pass


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` from the `tzdata` package econsult ships with, never the
    operating system's files: those may be older (Debian 12's 2025b still has
    America/Vancouver changing clocks in November 2026; IANA 2026 puts it on UTC-7 for
    good), and every machine, and the browser, must compute the same local times.

    (Such a zone pickles by name; unpickled, it would come from the OS files again, so
    pass names, not zones, to other processes.)"""
    if not _ZONE_NAME.match(name):
        raise UnknownZone(name)
    try:
        with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as f:
            return ZoneInfo.from_file(f, key=name)
    except (OSError, ValueError):
        raise UnknownZone(name) from None


def zone_data_version() -> str:
    """The IANA release of the zone data in use (e.g. "2026f")."""
    return str(tzdata.IANA_VERSION)


# --- showing times: the one format, on the server and (from these rules) in the browser

LOCAL_FORMAT = "%a %d %b %Y %H:%M"  # "Wed 02 Dec 2026 17:00"
RULE_YEARS = (2000, 2050)


def format_local(value: datetime | None, tz: ZoneInfo, *, with_zone: bool = False) -> str:
    """An instant as the program shows it, in `tz` ("Wed 02 Dec 2026 17:00", with
    " MST" where the zone matters: deadlines). web/static/js/util.js formats the same
    instant to the same text from `zone_rules`, never from the browser's own zone data."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    text = local.strftime(LOCAL_FORMAT)  # English names: the C locale (never set otherwise)
    return f"{text} {local.tzname()}" if with_zone else text


@functools.cache
def zone_rules(tz: ZoneInfo) -> tuple[tuple[int, int, str], ...]:
    """The zone's UTC offsets over RULE_YEARS as (from epoch second, offset seconds,
    abbreviation), from the same zone data the server uses, for the browser to format
    times with (its own zone data may be older or newer than ours)."""
    start = datetime(RULE_YEARS[0], 1, 1, tzinfo=UTC)
    end = datetime(RULE_YEARS[1], 1, 1, tzinfo=UTC)

    def at(moment: datetime) -> tuple[int, str]:
        local = moment.astimezone(tz)
        offset = local.utcoffset()
        return (int(offset.total_seconds()) if offset else 0), local.tzname() or ""

    rules = [(int(start.timestamp()), *at(start))]
    day = timedelta(days=7)  # zones change at most a few times a year
    moment = start
    while moment < end:
        nxt = moment + day
        if at(nxt) != at(moment):
            low, high = moment, nxt  # the change lies in (low, high]: bisect to the second
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if at(mid) == at(low) else (low, mid)
            rules.append((int(high.timestamp()), *at(high)))
        moment = nxt
    return tuple(rules)
