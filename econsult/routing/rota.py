"""On-call rota: weekly patterns and one-off shifts, minus absences, as UTC intervals.

Precedence within one specialist and tier: a one-off shift replaces whatever a weekly
pattern says for the same time, overlapping entries of one kind are joined, and an
absence removes time from both (and may split an interval in two). So the expansion
never holds two overlapping intervals for the same specialist and tier. Wall-clock
times are resolved by `wallclock.to_instant` (DST rules documented there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from econsult.routing._spans import Span, clip, merge_all, merge_overlapping, subtract
from econsult.routing.wallclock import require_aware, to_instant

ShiftId = int | str


class Tier(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


class Source(StrEnum):
    WEEKLY = "weekly"
    SHIFT = "shift"


TIER_RANK = {Tier.PRIMARY: 0, Tier.BACKUP: 1}


@dataclass(frozen=True, slots=True)
class WeeklyPattern:
    """Every `weekday` (0=Mon) from `start` to `end` in the program's zone.

    `end <= start` means the pattern runs past midnight into the next day
    (22:00-06:00); `end == start` is a full 24 hours.
    """

    specialist_id: int
    weekday: int
    start: time
    end: time
    tier: Tier

    def __post_init__(self) -> None:
        if isinstance(self.weekday, bool) or self.weekday not in range(7):
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday!r}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("weekly start and end are wall-clock times without a zone")
        object.__setattr__(self, "tier", Tier(self.tier))

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class Shift:
    """A one-off on-call period between two aware datetimes."""

    specialist_id: int
    starts_at: datetime
    ends_at: datetime
    tier: Tier
    id: ShiftId | None = None

    def __post_init__(self) -> None:
        _check_period(self.starts_at, self.ends_at, "shift")
        object.__setattr__(self, "tier", Tier(self.tier))


@dataclass(frozen=True, slots=True)
class Absence:
    """Leave or sickness: the specialist is off call whatever the rota says."""

    specialist_id: int
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        _check_period(self.starts_at, self.ends_at, "absence")


@dataclass(frozen=True, slots=True)
class OnCallInterval:
    """One expanded stretch of on-call time, [starts_at_utc, ends_at_utc) in UTC.

    `shift_ids` names the one-off shifts it came from (empty for weekly patterns),
    so a rota view can offer to delete them.
    """

    specialist_id: int
    tier: Tier
    starts_at_utc: datetime
    ends_at_utc: datetime
    source: Source
    shift_ids: tuple[ShiftId, ...] = ()

    def covers(self, at: datetime) -> bool:
        return self.starts_at_utc <= at < self.ends_at_utc

    @property
    def duration(self) -> timedelta:
        return self.ends_at_utc - self.starts_at_utc


def expand(
    patterns: Iterable[WeeklyPattern],
    shifts: Iterable[Shift],
    absences: Iterable[Absence],
    window_start: datetime,
    window_end: datetime,
    tz: ZoneInfo,
) -> list[OnCallInterval]:
    """Everyone's on-call time inside [window_start, window_end), sorted, in UTC."""
    window = (require_aware(window_start, "window_start"), require_aware(window_end, "window_end"))
    if window[1] < window[0]:
        raise ValueError("the window ends before it starts")

    weekly: dict[tuple[int, Tier], list[Span]] = defaultdict(list)
    for pattern in patterns:
        for span in _occurrences(pattern, window, tz):
            clipped = clip(span, window)
            if clipped:
                weekly[(pattern.specialist_id, pattern.tier)].append(clipped)

    one_off: dict[tuple[int, Tier], list[tuple[Span, ShiftId | None]]] = defaultdict(list)
    for shift in shifts:
        clipped = clip((_utc(shift.starts_at), _utc(shift.ends_at)), window)
        if clipped:
            one_off[(shift.specialist_id, shift.tier)].append((clipped, shift.id))

    away: dict[int, list[Span]] = defaultdict(list)
    for absence in absences:
        away[absence.specialist_id].append((_utc(absence.starts_at), _utc(absence.ends_at)))
    off = {sid: merge_all(spans) for sid, spans in away.items()}

    intervals: list[OnCallInterval] = []
    for key in weekly.keys() | one_off.keys():
        specialist_id, tier = key
        cuts = off.get(specialist_id, [])
        shift_clusters = _cluster_shifts(one_off.get(key, []))
        shift_cover = [span for span, _ in shift_clusters]
        for span, ids in shift_clusters:
            for piece in subtract(span, cuts):
                intervals.append(OnCallInterval(specialist_id, tier, *piece, Source.SHIFT, ids))
        for span in merge_overlapping(weekly.get(key, [])):
            for kept in subtract(span, shift_cover):
                for piece in subtract(kept, cuts):
                    intervals.append(OnCallInterval(specialist_id, tier, *piece, Source.WEEKLY))
    intervals.sort(key=_order)
    return intervals


def on_call_at(intervals: Iterable[OnCallInterval], at: datetime) -> list[OnCallInterval]:
    """The intervals covering instant `at`, in their given order."""
    instant = require_aware(at, "at")
    return [interval for interval in intervals if interval.covers(instant)]


def _occurrences(pattern: WeeklyPattern, window: Span, tz: ZoneInfo) -> Iterator[Span]:
    # Start a day early: yesterday's overnight pattern may still run into the window.
    day = window[0].astimezone(tz).date() - timedelta(days=1)
    last = window[1].astimezone(tz).date()
    day += timedelta(days=(pattern.weekday - day.weekday()) % 7)
    while day <= last:
        yield _occurrence(pattern, day, tz)
        day += timedelta(days=7)


def _occurrence(pattern: WeeklyPattern, day: date, tz: ZoneInfo) -> Span:
    end_day = day + timedelta(days=1) if pattern.crosses_midnight else day
    return to_instant(day, pattern.start, tz), to_instant(end_day, pattern.end, tz)


def _cluster_shifts(
    shifts: Sequence[tuple[Span, ShiftId | None]],
) -> list[tuple[Span, tuple[ShiftId, ...]]]:
    clusters: list[tuple[Span, tuple[ShiftId, ...]]] = []
    for (start, end), shift_id in sorted(shifts, key=lambda item: item[0]):
        ids: tuple[ShiftId, ...] = () if shift_id is None else (shift_id,)
        if clusters and start < clusters[-1][0][1]:
            (last_start, last_end), last_ids = clusters[-1]
            clusters[-1] = ((last_start, max(last_end, end)), last_ids + ids)
        else:
            clusters.append(((start, end), ids))
    return clusters


def _order(interval: OnCallInterval) -> tuple[datetime, datetime, int, int]:
    return (
        interval.starts_at_utc,
        interval.ends_at_utc,
        TIER_RANK[interval.tier],
        interval.specialist_id,
    )


def _check_period(starts_at: datetime, ends_at: datetime, what: str) -> None:
    start = require_aware(starts_at, f"{what} start")
    end = require_aware(ends_at, f"{what} end")
    if end <= start:
        raise ValueError(f"a {what} must end after it starts")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
