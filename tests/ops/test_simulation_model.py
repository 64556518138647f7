"""The simulation's model: arrivals, specialist behaviour and the synthetic rota.

Shape and calibration are checked statistically on fixed seeds, with bands wide enough
for sampling noise and narrow enough that a wrong parameter or profile fails.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest

from econsult.clock import zone
from econsult.ops.simulation.arrivals import (
    DEFAULT_MIX,
    Arrival,
    SpecialtyShare,
    arrivals_from_history,
    generate_arrivals,
    time_of_week,
)
from econsult.ops.simulation.behaviour import PARAMETERS, Behaviour
from econsult.ops.simulation.rota_model import (
    SpecialtyRota,
    SyntheticRota,
    build_rota,
    uncovered_hours,
)
from econsult.routing import (
    DecisionKind,
    RoutingRequest,
    Shift,
    Tier,
    Urgency,
    WeeklyPattern,
    decide,
)

TZ = zone("America/Vancouver")
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 00:00 in Vancouver
U, S, R = Urgency.URGENT, Urgency.SEMI_URGENT, Urgency.ROUTINE


def _month(seed: int = 7, requests: int = 3000, days: int = 28) -> list[Arrival]:
    return generate_arrivals(requests=requests, days=days, start=START, tz=TZ, seed=seed,
                             region=None)


# -- arrivals -------------------------------------------------------------------------


def test_same_seed_same_arrivals_and_another_seed_others() -> None:
    assert _month(seed=1) == _month(seed=1)
    assert _month(seed=1) != _month(seed=2)


@pytest.mark.parametrize("requests", [0, 1, 37, 1600])
def test_exactly_the_requested_count_inside_the_window(requests: int) -> None:
    arrivals = _month(requests=requests, days=30)
    assert len(arrivals) == requests
    assert all(START <= a.at < START + timedelta(days=30) for a in arrivals)
    assert [a.at for a in arrivals] == sorted(a.at for a in arrivals)
    assert [a.index for a in arrivals] == list(range(requests))


def test_weekday_daytime_peak_lunch_dip_and_quiet_weekends() -> None:
    local = [a.at.astimezone(TZ) for a in _month()]
    weekday = [t for t in local if t.weekday() < 5]
    weekend = [t for t in local if t.weekday() >= 5]
    assert sum(8 <= t.hour < 18 for t in weekday) / len(weekday) >= 0.70
    assert sum(t.hour < 6 for t in weekday) / len(weekday) < 0.03
    hours = Counter(t.hour for t in weekday)
    assert hours[12] < 0.75 * min(hours[11], hours[14])  # the lunch dip
    per_weekend_day, per_weekday = len(weekend) / 8, len(weekday) / 20
    assert 0.15 <= per_weekend_day / per_weekday <= 0.25


def test_holidays_count_as_weekend_days() -> None:
    # Good Friday, 2026-04-03, is a BC statutory holiday.
    arrivals = generate_arrivals(requests=3000, days=7, seed=3, tz=TZ,
                                 start=datetime(2026, 3, 30, 7, tzinfo=UTC))
    days = Counter(a.at.astimezone(TZ).date() for a in arrivals)
    assert days[datetime(2026, 4, 3).date()] < 0.4 * days[datetime(2026, 4, 2).date()]


def test_urgency_and_specialty_mix() -> None:
    arrivals = _month()
    urgent = sum(a.urgency is U for a in arrivals) / len(arrivals)
    assert abs(urgent - DEFAULT_MIX.share_of(U)) < 0.04
    assert 0.30 <= DEFAULT_MIX.share_of(U) <= 0.40
    specialties = {a.specialty for a in arrivals}
    assert {"dermatology", "cardiology", "psychiatry", "endocrinology",
            "nephrology"} <= specialties
    assert {a.specialty for a in arrivals if a.urgency is S} == {"dermatology"}
    assert len({a.gp_index for a in arrivals}) > 100


def test_a_mix_cannot_offer_semi_urgent_outside_dermatology() -> None:
    with pytest.raises(ValueError, match="does not offer semi_urgent"):
        SpecialtyShare("cardiology", 1.0, {U: 0.5, S: 0.5})


def test_history_replay_keeps_count_codes_and_time_of_week() -> None:
    history = _month(seed=11, requests=400, days=28)  # four weeks, Feb-Mar
    records = [(a.at, a.specialty, a.urgency.value) for a in history]
    target = datetime(2026, 3, 2, 8, tzinfo=UTC)  # includes the 8 March DST change
    replay = arrivals_from_history(records, target_start=target, tz=TZ)
    assert len(replay) == len(records)
    assert all(target <= a.at < target + timedelta(days=7) for a in replay)
    assert Counter((time_of_week(a.at, TZ), a.specialty, a.urgency) for a in replay) == \
        Counter((time_of_week(at, TZ), s, Urgency(u)) for at, s, u in records)
    assert sorted(a.source_at for a in replay if a.source_at) == sorted(r[0] for r in records)
    assert all(a.gp_index == -1 for a in replay)


def test_history_replay_refuses_bad_codes_and_targets() -> None:
    at = datetime(2026, 2, 3, 18, tzinfo=UTC)
    monday = datetime(2026, 3, 2, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown urgency"):
        arrivals_from_history([(at, "cardiology", "soon")], target_start=monday, tz=TZ)
    with pytest.raises(ValueError, match="does not offer"):
        arrivals_from_history([(at, "cardiology", "semi_urgent")], target_start=monday, tz=TZ)
    with pytest.raises(ValueError, match="Monday 00:00"):
        arrivals_from_history([], target_start=monday + timedelta(hours=1), tz=TZ)


# -- behaviour ------------------------------------------------------------------------


def _notice(b: Behaviour, a: Arrival, tier: Tier | None = Tier.PRIMARY) -> timedelta | None:
    return b.notice_delay(a.index, specialty=a.specialty, urgency=a.urgency, at=a.at, tier=tier)


def test_draws_for_a_consult_do_not_depend_on_call_order_so_both_arms_share_them() -> None:
    arrivals = _month(requests=200)
    policy, baseline = Behaviour(seed=5, tz=TZ), Behaviour(seed=5, tz=TZ)
    forward = [_notice(policy, a) for a in arrivals]
    backward = [_notice(baseline, a) for a in reversed(arrivals)][::-1]
    assert forward == backward
    a = arrivals[17]
    ack = a.at + timedelta(minutes=5)
    assert policy.exchange(a.index, specialty=a.specialty, urgency=a.urgency,
                           acknowledged_at=ack) == \
        baseline.exchange(a.index, specialty=a.specialty, urgency=a.urgency,
                          acknowledged_at=ack)
    other = Behaviour(seed=6, tz=TZ)
    assert [_notice(other, a) for a in arrivals] != forward


def test_same_draw_maps_through_context_pool_night_and_escalation_are_slower() -> None:
    b = Behaviour(seed=2, tz=TZ)
    noon = datetime(2026, 3, 3, 20, tzinfo=UTC)  # Tuesday 12:00 local
    night = datetime(2026, 3, 4, 10, tzinfo=UTC)  # Wednesday 02:00 local
    def minutes(at: datetime, tier: Tier | None, attempt: int = 0) -> list[float]:
        delays = [b.notice_delay(i, specialty="cardiology", urgency=U, at=at, tier=tier,
                                 attempt=attempt) for i in range(400)]
        return [d.total_seconds() / 60 for d in delays if d is not None]
    day, pooled = minutes(noon, Tier.PRIMARY), minutes(noon, None)
    dark = minutes(night, Tier.PRIMARY)
    assert statistics.median(pooled) > 5 * statistics.median(day)
    assert statistics.median(dark) > 2 * statistics.median(day)
    assert len(pooled) == 400  # the pool is seen by everyone: nothing is "missed"
    assert minutes(noon, Tier.PRIMARY, attempt=1) != day  # a fresh draw per escalation
    pooled_at_night = minutes(night, None)
    assert min(pooled_at_night) >= 6 * 60  # nobody opens the pool before 08:00


def test_calibration_against_published_figures() -> None:
    b = Behaviour(seed=9, tz=TZ)
    first_in_hours: list[float] = []
    routine_days: list[float] = []
    minutes: list[int] = []
    missed = Counter[bool]()
    for a in generate_arrivals(requests=5000, days=56, start=START, tz=TZ, seed=4):
        delay = _notice(b, a)
        if a.urgency is U and b.calendar.is_business_instant(a.at):
            missed[delay is None] += 1
        if delay is None:
            continue
        e = b.exchange(a.index, specialty=a.specialty, urgency=a.urgency,
                       acknowledged_at=a.at + delay)
        minutes.append(e.minutes)
        if a.urgency is U and b.calendar.is_business_instant(a.at):
            first_in_hours.append((e.first_response_at - a.at).total_seconds())
        if a.urgency is R:
            routine_days.append((e.answered_at - a.at).total_seconds() / 86400)
    # RACE: 75% (BCMJ 2014) to 80% (Providence 2018) of calls returned within 10 minutes.
    assert 0.70 <= sum(s <= 600 for s in first_in_hours) / len(first_in_hours) <= 0.85
    # Ontario eConsult: median 1.0 day, 96.3% within 7 days.
    assert 0.7 <= statistics.median(routine_days) <= 1.3
    assert 0.94 <= sum(d <= 7 for d in routine_days) / len(routine_days) <= 0.985
    # Champlain BASE billing: 53.9% under 10 minutes.
    assert 0.40 <= sum(m < 10 for m in minutes) / len(minutes) <= 0.65
    # Missed priority pages: ~9%.
    assert 0.06 <= missed[True] / missed.total() <= 0.12


def test_exchange_is_ordered_and_clarifications_pause_for_the_gp() -> None:
    b = Behaviour(seed=3, tz=TZ)
    kinds = Counter[str]()
    for a in _month(requests=600):
        ack = a.at + timedelta(minutes=20)
        e = b.exchange(a.index, specialty=a.specialty, urgency=a.urgency, acknowledged_at=ack)
        kinds[e.first_response] += 1
        assert ack <= e.first_response_at <= e.answered_at
        assert 1 <= e.minutes <= 60
        if e.first_response == "clarification_request":
            assert e.gp_replied_at is not None
            assert e.first_response_at < e.gp_replied_at < e.answered_at
        else:
            assert e.gp_replied_at is None
        if e.first_response == "answer":
            assert a.urgency is not U and e.answered_at == e.first_response_at
    assert kinds["answer"] and kinds["message"] and kinds["clarification_request"]


def test_unannounced_sick_days_silence_a_specialist_the_same_way_in_both_arms() -> None:
    b = Behaviour(seed=1, tz=TZ)
    days = [START + timedelta(days=d, hours=12) for d in range(400)]
    sick = [d for d in days if b.absent(42, d)]
    assert 0 < len(sick) < 20  # 2.8 days a year, over ~400 days
    assert b.notice_delay(1, specialty="nephrology", urgency=U, at=sick[0],
                          tier=Tier.PRIMARY, specialist_id=42) is None
    assert sick == [d for d in days if Behaviour(seed=1, tz=TZ).absent(42, d)]


def test_every_parameter_names_its_source() -> None:
    names = {p.name for p in PARAMETERS}
    assert len(names) == len(PARAMETERS) >= 15
    assert {"notice_urgent", "notice_pooled", "missed_urgent", "respond_routine",
            "clarify", "gp_reply", "minutes", "sick_days"} <= names
    for p in PARAMETERS:
        assert p.value and p.source, p
        cited = "[" in p.source and len(p.source) > 60  # a reference resolved to its text
        assert cited or "assumption" in p.source, p


# -- rota -----------------------------------------------------------------------------


def _rota(seed: int = 1) -> SyntheticRota:
    return build_rota(specialties=DEFAULT_MIX.specialties, start=START, days=28, tz=TZ,
                      seed=seed)


def test_rota_is_seeded_plain_routing_data() -> None:
    assert _rota(1) == _rota(1)
    rota = _rota(1)
    for specialty, team in rota.specialties.items():
        assert len(team.specialists) >= 2
        assert all(isinstance(p, WeeklyPattern) for p in team.patterns)
        assert all(isinstance(s, Shift) for s in team.shifts)
        assert {iv.tier for iv in rota.intervals(specialty)} >= {Tier.PRIMARY, Tier.BACKUP}
    assert len(rota.specialists) == sum(len(t.specialists) for t in rota.specialties.values())
    assert sum(len(t.absences) for t in rota.specialties.values()) >= 3


def test_rota_gaps_at_night_and_weekends_and_uncovered_hours_finds_them() -> None:
    rota = _rota(1)
    def local(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, tzinfo=TZ).astimezone(UTC)
    def in_gaps(at: datetime, gaps: tuple[tuple[datetime, datetime], ...]) -> bool:
        return any(start <= at < end for start, end in gaps)
    derm = uncovered_hours(rota, "dermatology")
    assert set(derm) == {U, S, R}
    assert in_gaps(local(7, 12), derm[U].gaps)  # Saturday noon
    assert in_gaps(local(10, 3), derm[U].gaps)  # Tuesday 03:00
    assert derm[U].uncovered_share > 0.5
    for specialty in DEFAULT_MIX.specialties:
        report = uncovered_hours(rota, specialty)
        assert report[R].uncovered_share <= 0.1, specialty  # weekday daytime is covered
    cardiology = uncovered_hours(rota, "cardiology")[U]
    assert cardiology.uncovered_hours < derm[U].uncovered_hours
    assert cardiology.no_backup_hours > 0  # nights are covered by one person only
    # The gaps are where routing pools: a dermatology consult on Saturday noon.
    team = rota.specialties["dermatology"].specialists
    decision = decide(RoutingRequest("dermatology", U), rota.intervals("dermatology"),
                      {s.id: s.state(open_load=0, last_assigned_at=None) for s in team},
                      local(7, 12))
    assert decision.kind is DecisionKind.POOL


def test_uncovered_hours_on_a_hand_built_week() -> None:
    patterns = tuple(WeeklyPattern(1, d, time(8), time(17), Tier.PRIMARY) for d in range(5))
    patterns += (WeeklyPattern(2, 0, time(8), time(17), Tier.BACKUP),)
    team = build_rota(specialties=["cardiology"], start=START, days=7, tz=TZ, seed=0)
    rota = SyntheticRota(START, START + timedelta(days=7), TZ, {"cardiology": SpecialtyRota(
        "cardiology", team.specialties["cardiology"].specialists, patterns, (), ())})
    report = uncovered_hours(rota, "cardiology")
    assert report[U].required_hours == 168
    assert report[U].uncovered_hours == 168 - 45
    assert report[R].required_hours == 45
    assert report[R].uncovered_hours == 0
    assert report[R].no_backup_hours == 36
    # Before Monday's shift, four weeknights, and Friday evening to the end of the week.
    assert len(report[U].gaps) == 6
