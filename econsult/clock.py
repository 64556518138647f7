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
