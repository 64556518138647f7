"""A synthetic month of on-call rota per specialty, as the routing code's own input types.

The shape follows how RACE is staffed (an "organized specialist coverage rotation",
Monday-Friday 08:00-17:00; raceconnect.ca "RACE in a Box"): weekday daytime is well
covered, by two primaries in the larger teams and a backup; a few services add evening
or overnight cover (cardiology, psychiatry, nephrology), usually without a backup;
only cardiology and psychiatry cover any weekend hours. So nights and weekends have
gaps, which is where pooling and escalation matter. Each team member also has about
a one-in-three chance of a 3-5 weekday block of leave in the month (about five weeks
a year: an assumption), and half of those days are covered by a colleague's one-off
shift, the other half left as they often are in practice: to the backup.

The output is plain data: `WeeklyPattern`, `Shift` and `Absence` per specialty, which
the driver writes through the rota service (or passes to `routing.expand` directly)
and `SimSpecialist` rows for the accounts it creates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np

from econsult.routing.decision import SpecialistState
from econsult.routing.rota import Absence, OnCallInterval, Shift, Tier, WeeklyPattern, expand
from econsult.routing.targets import Urgency, urgencies_for
from econsult.routing.wallclock import require_aware, to_instant

_STREAM = 2  # arrivals draw from spawn key 0, behaviour from 1
Span = tuple[datetime, datetime]
DAY_START, DAY_END = time(8), time(17)
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class _Cover:
    team: int
    evening: bool = False  # weekdays 17:00-22:00, primary only
    overnight: bool = False  # weeknights 22:00-08:00, primary only
    weekend: tuple[time, time] | None = None  # Saturday and Sunday, primary only


DEFAULT_COVER: Mapping[str, _Cover] = MappingProxyType({
    "dermatology": _Cover(5),
    "cardiology": _Cover(6, evening=True, overnight=True, weekend=(time(9), time(17))),
    "psychiatry": _Cover(5, evening=True, weekend=(time(9), time(13))),
    "endocrinology": _Cover(4),
    "nephrology": _Cover(4, evening=True),
    "hematology": _Cover(4),
    "gastroenterology": _Cover(4),
})


@dataclass(frozen=True, slots=True)
class SimSpecialist:
    id: int
    specialty: str
    email: str
    name: str
    cap: int | None = None

    def state(
        self, *, open_load: int, last_assigned_at: datetime | None, active: bool = True
    ) -> SpecialistState:
        """This specialist as the routing decision sees them at one moment."""
        return SpecialistState(
            self.id, frozenset({self.specialty}), active, open_load, self.cap, last_assigned_at
        )


@dataclass(frozen=True, slots=True)
class SpecialtyRota:
    specialty: str
    specialists: tuple[SimSpecialist, ...]
    patterns: tuple[WeeklyPattern, ...]
    shifts: tuple[Shift, ...]
    absences: tuple[Absence, ...]

    def expand(self, start: datetime, end: datetime, tz: ZoneInfo) -> list[OnCallInterval]:
        return expand(self.patterns, self.shifts, self.absences, start, end, tz)


@dataclass(frozen=True, slots=True)
class SyntheticRota:
    start: datetime
    end: datetime
    tz: ZoneInfo
    specialties: Mapping[str, SpecialtyRota]

    def intervals(self, specialty: str) -> list[OnCallInterval]:
        """Everyone's on-call time for `specialty` over the whole month, in UTC."""
        return self.specialties[specialty].expand(self.start, self.end, self.tz)

    @property
    def specialists(self) -> dict[int, SimSpecialist]:
        return {s.id: s for rota in self.specialties.values() for s in rota.specialists}


def build_rota(
    *,
    specialties: Iterable[str],
    start: datetime,
    days: int,
    tz: ZoneInfo,
    seed: int,
    cover: Mapping[str, _Cover] = DEFAULT_COVER,
) -> SyntheticRota:
    """The month from `start` (for `days` days) for each specialty named; a specialty
    without an entry in `cover` gets a four-person weekday-daytime team."""
    begin = require_aware(start, "start")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM,)))
    first_day = begin.astimezone(tz).date()
    rotas: dict[str, SpecialtyRota] = {}
    next_id = 1
    for specialty in specialties:
        plan = cover.get(specialty, _Cover(4))
        team = tuple(
            SimSpecialist(next_id + k, specialty, f"sim-{specialty}-{k + 1}@simulation.example.org",
                          f"Dr {specialty.title()} {k + 1}")
            for k in range(plan.team)
        )
        next_id += plan.team
        patterns = tuple(_patterns(plan, [s.id for s in team]))
        absences, shifts = _leave(rng, team, patterns, first_day, days, tz)
        rotas[specialty] = SpecialtyRota(specialty, team, patterns, shifts, absences)
    return SyntheticRota(begin, begin + timedelta(days=days), tz, MappingProxyType(rotas))


def _patterns(plan: _Cover, ids: Sequence[int]) -> list[WeeklyPattern]:
    n = len(ids)
    if n < 2:
        raise ValueError("a team needs at least two people: a primary and a backup")
    primaries = 2 if n >= 5 else 1
    out: list[WeeklyPattern] = []
    for d in range(5):
        for k in range(primaries):
            out.append(WeeklyPattern(ids[(d + k) % n], d, DAY_START, DAY_END, Tier.PRIMARY))
        out.append(WeeklyPattern(ids[(d + primaries) % n], d, DAY_START, DAY_END, Tier.BACKUP))
        if plan.evening:
            out.append(WeeklyPattern(ids[(d + 3) % n], d, DAY_END, time(22), Tier.PRIMARY))
        if plan.overnight:
            out.append(WeeklyPattern(ids[(d + 4) % n], d, time(22), DAY_START, Tier.PRIMARY))
    if plan.weekend:
        for d in (5, 6):
            out.append(WeeklyPattern(ids[d % n], d, *plan.weekend, Tier.PRIMARY))
    return out


def _leave(
    rng: np.random.Generator,
    team: Sequence[SimSpecialist],
    patterns: Sequence[WeeklyPattern],
    first_day: date,
    days: int,
    tz: ZoneInfo,
) -> tuple[tuple[Absence, ...], tuple[Shift, ...]]:
    absences: list[Absence] = []
    away: dict[date, set[int]] = {}
    for person in team:
        if rng.random() >= 1 / 3:
            continue
        begin = first_day + timedelta(days=int(rng.integers(0, max(1, days - 5))))
        workdays = [d for d in (begin + timedelta(days=i) for i in range(9)) if d.weekday() < 5]
        block = workdays[: int(rng.integers(3, 6))]
        absences.append(Absence(person.id, _midnight(block[0], tz),
                                _midnight(block[-1] + timedelta(days=1), tz)))
        for day in block:
            away.setdefault(day, set()).add(person.id)
    shifts: list[Shift] = []
    for day, missing in sorted(away.items()):
        for pattern in patterns:
            if pattern.weekday != day.weekday() or pattern.specialist_id not in missing:
                continue
            if rng.random() >= 0.5:
                continue
            busy = missing | {p.specialist_id for p in patterns if p.weekday == day.weekday()}
            stand_in = next((s.id for s in team if s.id not in busy), None)
            if stand_in is None:
                continue
            end_day = day + timedelta(days=1) if pattern.crosses_midnight else day
            shifts.append(Shift(stand_in, to_instant(day, pattern.start, tz),
                                to_instant(end_day, pattern.end, tz), pattern.tier,
                                f"cover-{pattern.specialist_id}-{day.isoformat()}"))
    return tuple(absences), tuple(shifts)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return to_instant(day, time(0), tz)


@dataclass(frozen=True, slots=True)
class CoverWindow:
    """Hours a tier of urgency must be covered, on the local wall clock. `end <= start`
    runs past midnight; `end == start` is the whole day."""

    weekdays: frozenset[int]
    start: time
    end: time


DEFAULT_WINDOWS: Mapping[Urgency, tuple[CoverWindow, ...]] = MappingProxyType({
    # Urgent targets run on the wall clock, so any hour nobody is on call is a gap.
    Urgency.URGENT: (CoverWindow(EVERY_DAY, time(0), time(0)),),
    Urgency.SEMI_URGENT: (CoverWindow(WEEKDAYS, DAY_START, DAY_END),),
    Urgency.ROUTINE: (CoverWindow(WEEKDAYS, DAY_START, DAY_END),),
})


@dataclass(frozen=True, slots=True)
class Coverage:
    specialty: str
    urgency: Urgency
    required_hours: float
    uncovered_hours: float  # nobody on call: a consult goes to the pool
    no_backup_hours: float  # someone on call but no backup: escalation has nowhere to go
    gaps: tuple[Span, ...]  # the uncovered spans, UTC

    @property
    def uncovered_share(self) -> float:
        return self.uncovered_hours / self.required_hours if self.required_hours else 0.0


def uncovered_hours(
    rota: SyntheticRota,
    specialty: str,
    windows: Mapping[Urgency, Sequence[CoverWindow]] = DEFAULT_WINDOWS,
) -> dict[Urgency, Coverage]:
    """For each urgency the specialty offers, the hours of its window with nobody on
    call, and those with no backup, over the rota's month (leave already removed)."""
    intervals = rota.intervals(specialty)
    anyone = _union((iv.starts_at_utc, iv.ends_at_utc) for iv in intervals)
    backup = _union((iv.starts_at_utc, iv.ends_at_utc) for iv in intervals
                    if iv.tier == Tier.BACKUP)
    report: dict[Urgency, Coverage] = {}
    for urgency in sorted(urgencies_for(specialty)):
        required = _union(_window_spans(windows.get(urgency, ()), rota))
        gaps = _minus(required, anyone)
        no_backup = _minus(_minus(required, gaps), backup)
        report[urgency] = Coverage(specialty, urgency, _hours(required), _hours(gaps),
                                   _hours(no_backup), tuple(gaps))
    return report


def _window_spans(windows: Iterable[CoverWindow], rota: SyntheticRota) -> Iterable[Span]:
    first = rota.start.astimezone(rota.tz).date() - timedelta(days=1)
    last = rota.end.astimezone(rota.tz).date()
    for window in windows:
        day = first
        while day <= last:
            if day.weekday() in window.weekdays:
                end_day = day + timedelta(days=1) if window.end <= window.start else day
                start = max(to_instant(day, window.start, rota.tz), rota.start)
                end = min(to_instant(end_day, window.end, rota.tz), rota.end)
                if start < end:
                    yield start, end
            day += timedelta(days=1)


def _union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _minus(spans: Sequence[Span], cuts: Sequence[Span]) -> list[Span]:
    """`spans` less `cuts`; both sorted and disjoint (as `_union` returns them)."""
    out: list[Span] = []
    for start, end in spans:
        for cut_start, cut_end in cuts:
            if cut_end <= start or cut_start >= end:
                continue
            if cut_start > start:
                out.append((start, cut_start))
            start = max(start, cut_end)
        if start < end:
            out.append((start, end))
    return out


def _hours(spans: Iterable[Span]) -> float:
    return sum((end - start).total_seconds() for start, end in spans) / 3600
