from econsult.routing.decision import Decision, RoutingRequest, next_escalation
from econsult.routing.rota import Tier
from econsult.routing.targets import Urgency
from tests.factories import interval, local, state

NOW = local(2026, 6, 2, 10)
START = local(2026, 6, 2, 8)
URGENT = RoutingRequest("dermatology", Urgency.URGENT)


def test_goes_to_the_backup_first() -> None:
    rota = [
        interval(1, Tier.PRIMARY, START),
        interval(2, Tier.PRIMARY, START),
        interval(3, Tier.BACKUP, START),
    ]
    people = {1: state(1), 2: state(2), 3: state(3, open_load=5)}
    decision = next_escalation(URGENT, 1, frozenset({1}), rota, people, NOW)
    assert (decision.specialist_id, decision.tier) == (3, Tier.BACKUP)
    assert decision.reason == "escalated to backup, on call (backup), only eligible, open load 5"


def test_then_the_next_available_on_call() -> None:
    rota = [
        interval(1, Tier.PRIMARY, START),
        interval(2, Tier.PRIMARY, START),
        interval(3, Tier.BACKUP, START),
    ]
    people = {1: state(1), 2: state(2), 3: state(3)}
    decision = next_escalation(URGENT, 3, frozenset({1, 3}), rota, people, NOW)
    assert (decision.specialist_id, decision.tier) == (2, Tier.PRIMARY)
    assert decision.reason.startswith("escalated to next available, on call (primary)")


def test_current_assignee_is_never_chosen_again_even_if_not_in_tried() -> None:
    rota = [interval(1, Tier.PRIMARY, START), interval(1, Tier.BACKUP, START)]
    decision = next_escalation(URGENT, 1, frozenset(), rota, {1: state(1)}, NOW)
    assert decision == Decision.pool(
        "escalation: every on-call specialist for dermatology was already tried or excluded"
    )


def test_pool_when_everyone_tried() -> None:
    rota = [interval(1, Tier.PRIMARY, START), interval(2, Tier.BACKUP, START)]
    decision = next_escalation(URGENT, 2, frozenset({1, 2}), rota, {1: state(1), 2: state(2)}, NOW)
    assert decision.kind == "pool" and decision.specialist_id is None


def test_pool_when_the_rest_are_unavailable() -> None:
    rota = [
        interval(1, Tier.PRIMARY, START),
        interval(2, Tier.BACKUP, START),
        interval(3, Tier.PRIMARY, START, hours=1),  # off shift by now
    ]
    people = {1: state(1), 2: state(2, open_load=2, cap=2), 3: state(3)}
    decision = next_escalation(URGENT, 1, frozenset({1}), rota, people, NOW)
    assert decision == Decision.pool("escalation: all on-call specialists for dermatology at cap")


def test_request_exclusions_still_apply() -> None:
    rota = [interval(1, Tier.PRIMARY, START), interval(2, Tier.BACKUP, START)]
    request = RoutingRequest("dermatology", Urgency.URGENT, frozenset({2}))
    decision = next_escalation(request, None, frozenset(), rota, {1: state(1), 2: state(2)}, NOW)
    assert decision.specialist_id == 1


def test_backup_without_the_specialty_is_skipped() -> None:
    rota = [
        interval(1, Tier.PRIMARY, START),
        interval(2, Tier.BACKUP, START),
        interval(3, Tier.PRIMARY, START),
    ]
    people = {1: state(1), 2: state(2, specialties=frozenset({"neurology"})), 3: state(3)}
    decision = next_escalation(URGENT, 1, frozenset({1}), rota, people, NOW)
    assert (decision.specialist_id, decision.tier) == (3, Tier.PRIMARY)
