"""Property tests: routing only ever picks someone eligible, and the right someone."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.routing.decision import (
    Decision,
    DecisionKind,
    RoutingRequest,
    SpecialistState,
    decide,
    next_escalation,
)
from econsult.routing.rota import OnCallInterval, Source, Tier
from econsult.routing.targets import Urgency

NOW = datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
IDS = st.integers(min_value=1, max_value=6)
SPECIALTIES = ["dermatology", "cardiology"]
# Weighted towards people who could be chosen, so ties and mixed tiers are common.
HOLDINGS = st.sampled_from(
    [{"dermatology"}, {"dermatology"}, {"dermatology", "cardiology"}, {"cardiology"}, set()]
)
Candidates = dict[int, SpecialistState]
Scenario = tuple[RoutingRequest, list[OnCallInterval], Candidates]


@st.composite
def rota_entry(draw: st.DrawFn, sid: int, tier: Tier) -> list[OnCallInterval]:
    """On call now (the interval may start exactly at NOW), or only before/after it."""
    when = draw(st.sampled_from(["now", "now", "before", "after", "off"]))
    minutes = st.integers(0, 600).map(lambda m: timedelta(minutes=m))
    if when == "off":
        return []
    if when == "now":
        start, end = NOW - draw(minutes), NOW + timedelta(minutes=1) + draw(minutes)
    elif when == "before":  # ends at NOW at the latest: the end is exclusive
        end = NOW - draw(minutes)
        start = end - timedelta(minutes=30)
    else:
        start = NOW + timedelta(microseconds=1) + draw(minutes)
        end = start + timedelta(minutes=30)
    return [OnCallInterval(sid, tier, start, end, Source.SHIFT)]


@st.composite
def specialist(draw: st.DrawFn, specialist_id: int) -> SpecialistState:
    last = draw(st.none() | st.sampled_from([1, 2, 3]).map(lambda h: NOW - timedelta(hours=h)))
    return SpecialistState(
        specialist_id,
        frozenset(draw(HOLDINGS)),
        draw(st.sampled_from([True, True, True, False])),
        draw(st.integers(0, 2)),
        draw(st.none() | st.integers(0, 3)),
        last,
        draw(st.none() | st.none() | st.integers(0, 3)),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    ids = sorted(draw(st.sets(IDS, min_size=1, max_size=6)))
    candidates = {sid: draw(specialist(sid)) for sid in ids}
    # One id may be on the rota without a state row; it must never be chosen.
    rostered = [*ids, draw(IDS)]
    entries = [draw(rota_entry(sid, tier)) for sid in rostered for tier in Tier]
    on_call = draw(st.permutations([iv for entry in entries for iv in entry]))
    request = RoutingRequest(
        draw(st.sampled_from(["dermatology", "dermatology", "cardiology"])),
        draw(st.sampled_from([Urgency.URGENT, Urgency.ROUTINE])),
        frozenset(draw(st.sets(IDS, max_size=2))),
    )
    return request, on_call, candidates


def _tiers_now(on_call: list[OnCallInterval], sid: int) -> set[Tier]:
    return {
        iv.tier
        for iv in on_call
        if iv.specialist_id == sid and iv.starts_at_utc <= NOW < iv.ends_at_utc
    }


def _eligible(request: RoutingRequest, on_call: list[OnCallInterval], candidates: Candidates,
              sid: int) -> bool:
    s = candidates.get(sid)
    return (
        s is not None
        and bool(_tiers_now(on_call, sid))
        and s.active
        and request.specialty in s.specialties
        and sid not in request.exclude
        and (s.cap is None or s.open_load < s.cap)
        and (s.personal_cap is None or s.open_load < s.personal_cap)
    )


def _rank(s: SpecialistState) -> tuple[int, bool, datetime, int]:
    idle = s.last_assigned_at or datetime.min.replace(tzinfo=UTC)
    return (s.open_load, s.last_assigned_at is not None, idle, s.specialist_id)


def _assert_well_formed(decision: Decision) -> None:
    if decision.kind is DecisionKind.ASSIGN:
        assert decision.specialist_id is not None and decision.tier is not None
    else:
        assert decision.kind is DecisionKind.POOL
        assert decision.specialist_id is None and decision.tier is None
    assert decision.reason


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_decide_picks_the_best_eligible_or_pools(scenario: Scenario) -> None:
    request, on_call, candidates = scenario
    decision = decide(request, on_call, candidates, NOW)
    _assert_well_formed(decision)
    eligible = [sid for sid in candidates if _eligible(request, on_call, candidates, sid)]
    if not eligible:
        assert decision.kind is DecisionKind.POOL
        return
    assert decision.kind is DecisionKind.ASSIGN
    chosen = decision.specialist_id
    assert chosen in eligible  # never off shift, absent, at cap, inactive, excluded, unqualified
    assert decision.tier in _tiers_now(on_call, chosen)
    primaries = [sid for sid in eligible if Tier.PRIMARY in _tiers_now(on_call, sid)]
    if primaries:
        assert decision.tier is Tier.PRIMARY
        best = min((candidates[sid] for sid in primaries), key=_rank)
    else:
        assert decision.tier is Tier.BACKUP
        best = min((candidates[sid] for sid in eligible), key=_rank)
    assert chosen == best.specialist_id


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_decide_ignores_input_order(scenario: Scenario, rnd: random.Random) -> None:
    request, on_call, candidates = scenario
    shuffled = list(on_call)
    rnd.shuffle(shuffled)
    reordered = dict(sorted(candidates.items(), reverse=True))
    assert decide(request, shuffled, reordered, NOW) == decide(request, on_call, candidates, NOW)


@settings(max_examples=300, deadline=None)
@given(scenarios(), IDS, st.sets(IDS, max_size=2))
def test_escalation_never_repeats_and_prefers_backup(
    scenario: Scenario, current: int, tried: set[int]
) -> None:
    request, on_call, candidates = scenario
    decision = next_escalation(request, current, frozenset(tried), on_call, candidates, NOW)
    _assert_well_formed(decision)
    skip = request.exclude | tried | {current}
    narrowed = RoutingRequest(request.specialty, request.urgency, skip)
    eligible = [sid for sid in candidates if _eligible(narrowed, on_call, candidates, sid)]
    if not eligible:
        assert decision.kind is DecisionKind.POOL
        return
    assert decision.specialist_id in eligible
    assert decision.specialist_id != current and decision.specialist_id not in tried
    backups = [sid for sid in eligible if Tier.BACKUP in _tiers_now(on_call, sid)]
    if backups:
        assert decision.tier is Tier.BACKUP
        best = min((candidates[sid] for sid in backups), key=_rank)
        assert decision.specialist_id == best.specialist_id
    else:
        assert decision.tier is Tier.PRIMARY
