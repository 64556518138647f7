import pytest

from econsult.routing.decision import (
    Decision,
    DecisionKind,
    RoutingRequest,
    SpecialistState,
    decide,
)
from econsult.routing.rota import Tier
from econsult.routing.targets import Urgency
from tests.factories import interval, local, state

NOW = local(2026, 6, 2, 10)
SHIFT_START = local(2026, 6, 2, 8)
DERM = RoutingRequest("dermatology", Urgency.ROUTINE)


def test_assigns_the_only_primary() -> None:
    decision = decide(DERM, [interval(1, Tier.PRIMARY, SHIFT_START)], {1: state(1)}, NOW)
    assert decision == Decision(DecisionKind.ASSIGN, 1, Tier.PRIMARY,
                                "on call (primary), only eligible, open load 0")


def test_primary_beats_backup_even_with_more_load() -> None:
    rota = [interval(1, Tier.BACKUP, SHIFT_START), interval(2, Tier.PRIMARY, SHIFT_START)]
    decision = decide(DERM, rota, {1: state(1), 2: state(2, open_load=9)}, NOW)
    assert (decision.specialist_id, decision.tier) == (2, Tier.PRIMARY)


def test_backup_when_no_primary_is_eligible() -> None:
    rota = [interval(1, Tier.BACKUP, SHIFT_START), interval(2, Tier.PRIMARY, SHIFT_START)]
    decision = decide(DERM, rota, {1: state(1), 2: state(2, active=False)}, NOW)
    assert (decision.specialist_id, decision.tier) == (1, Tier.BACKUP)
    assert decision.reason == "on call (backup), only eligible, open load 0"


def test_least_open_load_wins() -> None:
    rota = [interval(sid, Tier.PRIMARY, SHIFT_START) for sid in (1, 2, 3)]
    people = {1: state(1, open_load=4), 2: state(2, open_load=2), 3: state(3, open_load=3)}
    decision = decide(DERM, rota, people, NOW)
    assert decision.specialist_id == 2
    assert decision.reason == "on call (primary), least open load 2"


def test_ties_go_to_whoever_has_been_idle_longest() -> None:
    rota = [interval(sid, Tier.PRIMARY, SHIFT_START) for sid in (1, 2, 3)]
    people = {
        1: state(1, open_load=1, last_assigned_at=local(2026, 6, 2, 9)),
        2: state(2, open_load=1, last_assigned_at=local(2026, 6, 1, 9)),
        3: state(3, open_load=1, last_assigned_at=local(2026, 6, 2, 7)),
    }
    decision = decide(DERM, rota, people, NOW)
    assert decision.specialist_id == 2
    assert decision.reason == "on call (primary), least open load 1, idle longest"


def test_never_assigned_counts_as_idle_forever() -> None:
    rota = [interval(sid, Tier.PRIMARY, SHIFT_START) for sid in (1, 2)]
    people = {1: state(1, last_assigned_at=local(2020, 1, 1)), 2: state(2)}
    assert decide(DERM, rota, people, NOW).specialist_id == 2


def test_full_tie_goes_to_lowest_id() -> None:
    rota = [interval(sid, Tier.PRIMARY, SHIFT_START) for sid in (9, 4, 6)]
    decision = decide(DERM, rota, {sid: state(sid) for sid in (9, 4, 6)}, NOW)
    assert decision.specialist_id == 4
    assert decision.reason.endswith("lowest id")


@pytest.mark.parametrize(
    ("person", "request_", "reason"),
    [
        (state(1, specialties=frozenset({"cardiology"})), DERM, "nobody on call for dermatology"),
        (state(1, active=False), DERM, "every on-call specialist for dermatology is inactive"),
        (
            state(1),
            RoutingRequest("dermatology", Urgency.URGENT, frozenset({1})),
            "every on-call specialist for dermatology was already tried or excluded",
        ),
        (state(1, open_load=3, cap=3), DERM, "all on-call specialists for dermatology at cap"),
    ],
)
def test_pool_with_the_reason(person: SpecialistState, request_: RoutingRequest,
                              reason: str) -> None:
    decision = decide(request_, [interval(1, Tier.PRIMARY, SHIFT_START)], {1: person}, NOW)
    assert decision == Decision.pool(reason)
    assert decision.kind == "pool"


def test_a_specialists_own_cap_holds_below_the_specialtys() -> None:
    rota = [interval(1, Tier.PRIMARY, SHIFT_START), interval(2, Tier.BACKUP, SHIFT_START)]
    people = {1: SpecialistState(1, frozenset({"dermatology"}), True, 2, 10, None,
                                 personal_cap=2),
              2: state(2, open_load=5, cap=10)}
    decision = decide(DERM, rota, people, NOW)
    assert decision.specialist_id == 2 and decision.tier is Tier.BACKUP
    people[2] = SpecialistState(2, frozenset({"dermatology"}), True, 5, None, None,
                                personal_cap=5)
    assert decide(DERM, rota, people, NOW) == Decision.pool(
        "all on-call specialists for dermatology at cap")


def test_below_cap_is_eligible() -> None:
    rota = [interval(1, Tier.PRIMARY, SHIFT_START)]
    assert decide(DERM, rota, {1: state(1, open_load=2, cap=3)}, NOW).specialist_id == 1


def test_off_shift_specialist_is_not_assigned() -> None:
    rota = [interval(1, Tier.PRIMARY, SHIFT_START, hours=1)]  # ended at 09:00
    assert decide(DERM, rota, {1: state(1)}, NOW) == Decision.pool(
        "nobody on call for dermatology"
    )


def test_specialist_missing_from_candidates_is_skipped() -> None:
    rota = [interval(1, Tier.PRIMARY, SHIFT_START), interval(2, Tier.BACKUP, SHIFT_START)]
    assert decide(DERM, rota, {2: state(2)}, NOW).specialist_id == 2


def test_on_call_as_both_tiers_counts_as_primary() -> None:
    rota = [interval(1, Tier.BACKUP, SHIFT_START), interval(1, Tier.PRIMARY, SHIFT_START)]
    assert decide(DERM, rota, {1: state(1)}, NOW).tier is Tier.PRIMARY


def test_decision_invariants() -> None:
    with pytest.raises(ValueError):
        Decision(DecisionKind.ASSIGN, None, None, "x")
    with pytest.raises(ValueError):
        Decision(DecisionKind.POOL, 1, Tier.PRIMARY, "x")
    with pytest.raises(ValueError):
        RoutingRequest("dermatology", "whenever")  # type: ignore[arg-type]  # on purpose


def test_naive_now_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="time zone"):
        decide(DERM, [], {}, datetime(2026, 6, 2, 10))
