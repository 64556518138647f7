"""When consults arrive, for which specialty, at which urgency, from which GP.

Shape of the week (assumptions, stated because no program publishes an hourly profile):
GPs ask while they see patients, so weekday volume follows clinic hours, 08:00-18:00
local, with a dip at lunch and a tail into the evening when GPs clear their inboxes;
nights are nearly empty. RACE itself answers only Monday to Friday 08:00-17:00
(raceconnect.ca, "RACE in a Box"), and weekend days carry about a fifth of a weekday
(`WEEKEND_FACTOR`). Statutory holidays count as weekend days.

Mix (`DEFAULT_MIX`): dermatology is the most asked specialty in Ontario eConsult
(16% in the South East region, seamo.ca "eConsult fast facts", Feb 2021) and mostly
routine, with a semi_urgent share for suspected skin cancer; cardiology, psychiatry,
endocrinology and nephrology are RACE lines (bcatpr.ca/race), where every call is
urgent advice within two hours. The weights give about 35% urgent overall: RACE is
all urgent, e-consult programs are all non-urgent, and this platform carries both.

Volume: RACE handles about 1,600 calls and requests a month (raceconnect.ca/about),
which is where `econsult simulate --requests 1600 --days 30` comes from.

The total is exact: `requests` consults are placed into local hours by a multinomial
draw over the hourly weights, then uniformly inside their hour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import numpy as np

from econsult.routing.targets import Urgency, urgencies_for
from econsult.routing.wallclock import require_aware, to_instant
from econsult.turnaround.calendar import BusinessCalendar

# Relative arrivals per local hour (index = hour) on a working day: clinic hours carry
# the weight, 12:00 is the lunch dip, evenings taper, nights are near zero.
WEEKDAY_HOURS: tuple[float, ...] = (
    0.05, 0.03, 0.03, 0.03, 0.05, 0.1, 0.2, 0.6,  # 00-07
    1.6, 2.0, 2.0, 1.8, 1.0, 1.5, 1.9, 1.8, 1.6, 1.0,  # 08-17
    0.5, 0.4, 0.35, 0.3, 0.2, 0.1,  # 18-23
)
# A weekend or holiday: flatter, late morning to afternoon, scaled so the whole day is
# WEEKEND_FACTOR of a working day.
_WEEKEND_SHAPE: tuple[float, ...] = (
    0.05, 0.03, 0.03, 0.03, 0.03, 0.05, 0.1, 0.3,
    0.7, 1.0, 1.2, 1.2, 1.0, 1.0, 1.0, 0.9, 0.8, 0.7,
    0.6, 0.5, 0.4, 0.3, 0.2, 0.1,
)
WEEKEND_FACTOR = 0.2
DEFAULT_GPS = 600  # active requesters in a month; heavy users dominate (see _gp_weights)


@dataclass(frozen=True, slots=True)
class SpecialtyShare:
    """One specialty's share of the volume and how its consults split by urgency."""

    specialty: str
    weight: float
    urgency: Mapping[Urgency, float]

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f"{self.specialty}: weight must be positive")
        shares = {Urgency(k): float(v) for k, v in self.urgency.items()}
        offered = urgencies_for(self.specialty)
        unknown = sorted(u.value for u in shares if u not in offered)
        if unknown:
            raise ValueError(f"{self.specialty} does not offer {', '.join(unknown)}")
        if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1) > 1e-9:
            raise ValueError(f"{self.specialty}: urgency shares must be >= 0 and sum to 1")
        object.__setattr__(self, "urgency", MappingProxyType(shares))


@dataclass(frozen=True, slots=True)
class SpecialtyMix:
    shares: tuple[SpecialtyShare, ...]

    def __post_init__(self) -> None:
        names = [s.specialty for s in self.shares]
        if not names or len(set(names)) != len(names):
            raise ValueError("a mix names each specialty once, at least one")

    @property
    def specialties(self) -> tuple[str, ...]:
        return tuple(s.specialty for s in self.shares)

    def share_of(self, urgency: Urgency) -> float:
        """Expected share of all consults at `urgency`."""
        total = sum(s.weight for s in self.shares)
        return sum(s.weight * s.urgency.get(urgency, 0.0) for s in self.shares) / total


def _share(specialty: str, weight: float, urgent: float, semi: float = 0.0) -> SpecialtyShare:
    split = {Urgency.URGENT: urgent, Urgency.ROUTINE: 1 - urgent - semi}
    if semi:
        split[Urgency.SEMI_URGENT] = semi
    return SpecialtyShare(specialty, weight, split)


DEFAULT_MIX = SpecialtyMix((
    _share("dermatology", 0.24, urgent=0.10, semi=0.20),
    _share("cardiology", 0.18, urgent=0.55),
    _share("psychiatry", 0.16, urgent=0.55),
    _share("endocrinology", 0.14, urgent=0.35),
    _share("nephrology", 0.10, urgent=0.40),
    _share("hematology", 0.10, urgent=0.25),
    _share("gastroenterology", 0.08, urgent=0.30),
))


@dataclass(frozen=True, slots=True)
class Arrival:
    """One consult to submit. `index` is its position in the run, the key of its
    behaviour draws; `source_at` is the recorded time of a replayed arrival."""

    at: datetime
    specialty: str
    urgency: Urgency
    gp_index: int
    index: int = 0
    source_at: datetime | None = None


def generate_arrivals(
    *,
    requests: int,
    days: int,
    start: datetime,
    tz: ZoneInfo,
    seed: int,
    mix: SpecialtyMix = DEFAULT_MIX,
    gps: int = DEFAULT_GPS,
    region: str | None = "CA-BC",
) -> list[Arrival]:
    """Exactly `requests` arrivals in the 24 x `days` hours from `start`, sorted by time."""
    if requests < 0 or days < 1 or gps < 1:
        raise ValueError("requests must be >= 0, days and gps >= 1")
    begin = require_aware(start, "start")
    hours, weights = _hour_weights(begin, days, tz, region)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    per_hour = rng.multinomial(requests, weights / weights.sum())
    moments = sorted(
        hour + timedelta(seconds=float(offset))
        for hour, count in zip(hours, per_hour, strict=True)
        for offset in rng.uniform(0, 3600, size=int(count))
    )
    spec_weights = np.array([s.weight for s in mix.shares])
    picks = rng.choice(len(mix.shares), size=requests, p=spec_weights / spec_weights.sum())
    gp_weights = _gp_weights(gps)
    gp_picks = rng.choice(gps, size=requests, p=gp_weights)
    arrivals = []
    for i, (moment, pick, gp) in enumerate(zip(moments, picks, gp_picks, strict=True)):
        share = mix.shares[int(pick)]
        urgencies = sorted(share.urgency)
        probs = np.array([share.urgency[u] for u in urgencies])
        urgency = urgencies[int(rng.choice(len(urgencies), p=probs))]
        arrivals.append(Arrival(moment, share.specialty, urgency, int(gp), i))
    return arrivals


def arrivals_from_history(
    records: Iterable[tuple[datetime, str, str]],
    *,
    target_start: datetime,
    tz: ZoneInfo,
) -> list[Arrival]:
    """Recorded (submitted_at, specialty, urgency) rows moved onto the week that starts
    at `target_start` (a local Monday 00:00), each at the same weekday and wall-clock time.

    Only timestamps and codes are taken, as the staff dashboards are. Every record is
    kept, so four weeks of history make a week with four weeks' volume: to replay one
    week at a time, group the result by the ISO week of `source_at`. History carries no
    GP identity, so `gp_index` is -1. A wall time skipped by a DST change resolves as
    the rota's does (`to_instant`).
    """
    week = require_aware(target_start, "target_start").astimezone(tz)
    if (week.weekday(), week.hour, week.minute, week.second) != (0, 0, 0, 0):
        raise ValueError("target_start must be a Monday 00:00 in the program's zone")
    moved: list[tuple[datetime, datetime, str, Urgency]] = []
    for n, (at, specialty, code) in enumerate(records):
        try:
            urgency = Urgency(code)
        except ValueError:
            raise ValueError(f"record {n}: unknown urgency {code!r}") from None
        if urgency not in urgencies_for(specialty):
            raise ValueError(f"record {n}: {specialty} does not offer {urgency.value}")
        local = require_aware(at, f"record {n} time").astimezone(tz)
        day = week.date() + timedelta(days=local.weekday())
        target = to_instant(day, local.time().replace(tzinfo=None), tz)
        moved.append((target, local.astimezone(UTC), specialty, urgency))
    moved.sort(key=lambda m: (m[0], m[1]))
    return [
        Arrival(target, specialty, urgency, -1, i, source)
        for i, (target, source, specialty, urgency) in enumerate(moved)
    ]


def _hour_weights(
    begin: datetime, days: int, tz: ZoneInfo, region: str | None
) -> tuple[list[datetime], np.ndarray]:
    # Walk UTC hours so a DST day has 23 or 25 of them; weight each by its local hour.
    calendar = BusinessCalendar(tz, region=region)
    weekend_total = sum(_WEEKEND_SHAPE)
    weekend = [WEEKEND_FACTOR * sum(WEEKDAY_HOURS) * w / weekend_total for w in _WEEKEND_SHAPE]
    hours = [begin + timedelta(hours=h) for h in range(24 * days)]
    weights = []
    for hour in hours:
        local = hour.astimezone(tz)
        table = WEEKDAY_HOURS if calendar.is_business_day(local.date()) else weekend
        weights.append(table[local.hour])
    return hours, np.array(weights)


def _gp_weights(gps: int) -> np.ndarray:
    # A few GPs ask often and most rarely (a Zipf-like tail), as in any referral log.
    ranks = np.arange(1, gps + 1, dtype=float)
    weights: np.ndarray = ranks ** -0.8
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def time_of_week(at: datetime, tz: ZoneInfo) -> tuple[int, int, int]:
    """(weekday, hour, minute) of `at` in `tz`: what a replay preserves."""
    local = at.astimezone(tz)
    return local.weekday(), local.hour, local.minute

