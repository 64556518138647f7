"""Small builders shared by the routing tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from econsult.routing.decision import SpecialistState
from econsult.routing.rota import OnCallInterval, Source, Tier

VANCOUVER = ZoneInfo("America/Vancouver")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware Vancouver datetime (fold=0 for ambiguous wall times)."""
    return datetime(year, month, day, hour, minute, tzinfo=VANCOUVER)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hm(text: str) -> time:
    return time.fromisoformat(text)


def state(
    specialist_id: int,
    *,
    specialties: frozenset[str] = frozenset({"dermatology"}),
    active: bool = True,
    open_load: int = 0,
    cap: int | None = None,
    last_assigned_at: datetime | None = None,
) -> SpecialistState:
    return SpecialistState(specialist_id, specialties, active, open_load, cap, last_assigned_at)


def on_call(
    specialist_id: int, tier: Tier, start: datetime, hours: float = 8
) -> OnCallInterval:
    return OnCallInterval(
        specialist_id,
        tier,
        start.astimezone(UTC),
        (start + timedelta(hours=hours)).astimezone(UTC),
        Source.SHIFT,
    )
