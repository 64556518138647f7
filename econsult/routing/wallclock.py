"""Turn a wall-clock date and time in a zone into one UTC instant, across DST changes.

Rules (America/Vancouver examples):
- A time skipped by a spring-forward gap resolves forward to the first instant after
  the gap, the moment the wall clock first passes it: 02:30 on 2026-03-08 is
  03:00 PDT (10:00 UTC). Unlike "add the gap length" (which gives 03:30), this keeps
  the mapping monotonic, so a pattern such as 02:30-03:10 never ends before it starts.
- A time that occurs twice when clocks fall back takes its first occurrence
  (fold=0): 01:30 on 2026-11-01 is 01:30 PDT (08:30 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_ONE_MICROSECOND = timedelta(microseconds=1)


def to_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in `tz` first shows `day` `wall`."""
    if wall.tzinfo is not None:
        raise ValueError("a wall-clock time must not carry its own time zone")
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(first, tz) == naive:
        return first
    # In a gap, fold=1 reads the wall time with the offset after the change and lands
    # before the transition; fold=0 lands after it. The transition lies between.
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    # Invariant: the wall clock shows less than `naive` at `low`, at least it at `high`.
    low, high = min(before, first), max(before, first)
    while high - low > _ONE_MICROSECOND:
        mid = low + (high - low) / 2  # timedelta division rounds to whole microseconds
        if _wall(mid, tz) >= naive:
            high = mid
        else:
            low = mid
    return high


def is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None


def require_aware(value: datetime, name: str) -> datetime:
    """Return `value` in UTC, or refuse a naive datetime naming the field."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if not is_aware(value):
        raise ValueError(f"{name} must carry a time zone offset")
    return value.astimezone(UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)
