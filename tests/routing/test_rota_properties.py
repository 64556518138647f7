"""Property tests: expansion covers exactly the rota minus absences, without overlaps."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.routing.rota import Absence, OnCallInterval, Shift, Tier, WeeklyPattern, expand
from econsult.routing.wallclock import to_instant

ZONES = [
    ZoneInfo(name)
    for name in ("America/Vancouver", "Europe/London", "Australia/Lord_Howe", "America/St_Johns")
]
# Anchors near the 2026 clock changes in both hemispheres, and one quiet week.
ANCHORS = [
    datetime(2026, 3, 6, tzinfo=UTC),
    datetime(2026, 3, 27, tzinfo=UTC),
    datetime(2026, 4, 3, tzinfo=UTC),
    datetime(2026, 6, 1, tzinfo=UTC),
    datetime(2026, 9, 30, tzinfo=UTC),
    datetime(2026, 10, 23, tzinfo=UTC),
    datetime(2026, 10, 30, tzinfo=UTC),
]
SPECIALISTS = st.integers(min_value=1, max_value=3)
TIERS = st.sampled_from(list(Tier))
# Quarter hours, plus minutes that land inside 30- and 60-minute DST gaps.
WALL_TIMES = st.builds(
    time,
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 10, 15, 30, 45, 59]),
)
Span = tuple[datetime, datetime]
Key = tuple[int, Tier]  # (specialist, tier)


@dataclass(frozen=True)
class Scenario:
    patterns: list[WeeklyPattern]
    shifts: list[Shift]
    absences: list[Absence]
    window: Span
    tz: ZoneInfo


@dataclass(frozen=True)
class Oracle:
    """Source spans per (specialist, tier) and absences per specialist, built naively."""

    sources: defaultdict[Key, list[Span]]
    away: defaultdict[int, list[Span]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    anchor = draw(st.sampled_from(ANCHORS))
    minutes = st.integers(min_value=-2 * 24 * 60, max_value=12 * 24 * 60)

    def instant() -> datetime:
        return anchor + timedelta(minutes=draw(minutes))

    def period() -> tuple[datetime, datetime]:
        start = instant()
        return start, start + timedelta(minutes=draw(st.integers(1, 36 * 60)))

    patterns = draw(
        st.lists(st.builds(WeeklyPattern, SPECIALISTS, st.integers(0, 6), WALL_TIMES,
                           WALL_TIMES, TIERS), max_size=6)
    )
    shifts = [
        Shift(draw(SPECIALISTS), *period(), draw(TIERS), id=n)
        for n in range(draw(st.integers(0, 5)))
    ]
    absences = [Absence(draw(SPECIALISTS), *period()) for _ in range(draw(st.integers(0, 4)))]
    window_start = instant()
    window_end = window_start + timedelta(minutes=draw(st.integers(0, 10 * 24 * 60)))
    return Scenario(patterns, shifts, absences, (window_start, window_end),
                    draw(st.sampled_from(ZONES)))


def _pattern_spans(pattern: WeeklyPattern, first: date, last: date, tz: ZoneInfo) -> list[Span]:
    spans = []
    day = first
    while day <= last:
        if day.weekday() == pattern.weekday:
            end_day = day + timedelta(days=1) if pattern.end <= pattern.start else day
            spans.append((to_instant(day, pattern.start, tz), to_instant(end_day, pattern.end, tz)))
        day += timedelta(days=1)
    return spans


def _oracle(s: Scenario) -> Oracle:
    tz, (ws, we) = s.tz, s.window
    first = ws.astimezone(tz).date() - timedelta(days=2)
    last = we.astimezone(tz).date() + timedelta(days=1)
    oracle = Oracle(defaultdict(list), defaultdict(list))
    for p in s.patterns:
        oracle.sources[(p.specialist_id, p.tier)] += _pattern_spans(p, first, last, tz)
    for sh in s.shifts:
        oracle.sources[(sh.specialist_id, sh.tier)].append((sh.starts_at, sh.ends_at))
    for a in s.absences:
        oracle.away[a.specialist_id].append((a.starts_at, a.ends_at))
    return oracle


def _should_cover(oracle: Oracle, window: Span, key: Key, t: datetime) -> bool:
    def inside(spans: list[Span]) -> bool:
        return any(start <= t < end for start, end in spans)

    return (
        window[0] <= t < window[1]
        and inside(oracle.sources[key])
        and not inside(oracle.away[key[0]])
    )


def _run(s: Scenario) -> list[OnCallInterval]:
    start, end = s.window
    return expand(s.patterns, s.shifts, s.absences, start, end, s.tz)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_overlap_for_one_specialist_and_tier(s: Scenario) -> None:
    by_key: defaultdict[Key, list[OnCallInterval]] = defaultdict(list)
    for interval in _run(s):
        assert interval.starts_at_utc < interval.ends_at_utc
        by_key[(interval.specialist_id, interval.tier)].append(interval)
    for intervals in by_key.values():
        for before, after in zip(intervals, intervals[1:], strict=False):
            assert before.ends_at_utc <= after.starts_at_utc


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_covers_exactly_the_rota_inside_the_window_minus_absences(s: Scenario) -> None:
    intervals = _run(s)
    oracle = _oracle(s)
    # Coverage only changes at a boundary, so checking every boundary and every
    # midpoint between neighbouring boundaries checks every instant.
    points = {s.window[0], s.window[1]}
    for spans in [*oracle.sources.values(), *oracle.away.values()]:
        for start, end in spans:
            points |= {start.astimezone(UTC), end.astimezone(UTC)}
    for iv in intervals:
        points |= {iv.starts_at_utc, iv.ends_at_utc}
    ordered = sorted(points)
    probes = ordered + [a + (b - a) / 2 for a, b in zip(ordered, ordered[1:], strict=False)]
    keys = {(sid, tier) for sid in range(1, 4) for tier in Tier}
    for t in probes:
        for key in keys:
            got = any(
                iv.covers(t) for iv in intervals if (iv.specialist_id, iv.tier) == key
            )
            assert got == _should_cover(oracle, s.window, key, t), (key, t)


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_sorted_and_in_utc(s: Scenario) -> None:
    intervals = _run(s)
    starts = [iv.starts_at_utc for iv in intervals]
    assert starts == sorted(starts)
    assert all(iv.starts_at_utc.tzinfo is UTC and iv.ends_at_utc.tzinfo is UTC for iv in intervals)
