"""Property tests for continuity: the specialist the GP named gets the consult exactly
when they are eligible and on call; otherwise routing is untouched and says why."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.routing.decision import (
    DecisionKind,
    NamedOutcome,
    RoutingRequest,
    decide,
)
from econsult.routing.rota import on_call_at
from tests.routing.test_decision_properties import IDS, NOW, Scenario, scenarios


def _eligible_on_call(scenario: Scenario, sid: int) -> bool:
    request, on_call, candidates = scenario
    state = candidates.get(sid)
    on_now = {iv.specialist_id for iv in on_call_at(on_call, NOW)}
    return (state is not None and state.active and request.specialty in state.specialties
            and sid not in request.exclude and not state.at_cap and sid in on_now)


@settings(max_examples=400, deadline=None)
@given(scenarios(), IDS)
def test_the_named_specialist_is_chosen_exactly_when_eligible_and_on_call(
        scenario: Scenario, named: int) -> None:
    request, on_call, candidates = scenario
    decision = decide(replace(request, preferred=named), on_call, candidates, NOW)
    if _eligible_on_call(scenario, named):
        assert decision.kind is DecisionKind.ASSIGN
        assert decision.specialist_id == named
        assert decision.named == NamedOutcome.CHOSEN
        assert decision.reason.startswith("named specialist, on call")
    else:
        assert decision.specialist_id != named
        assert decision.named not in (None, NamedOutcome.CHOSEN)
        assert decision.reason.startswith("named specialist ")


@settings(max_examples=400, deadline=None)
@given(scenarios(), IDS)
def test_otherwise_routing_is_exactly_as_if_nobody_was_named(
        scenario: Scenario, named: int) -> None:
    request, on_call, candidates = scenario
    plain = decide(request, on_call, candidates, NOW)
    decision = decide(replace(request, preferred=named), on_call, candidates, NOW)
    if not _eligible_on_call(scenario, named):
        assert (decision.kind, decision.specialist_id, decision.tier) == (
            plain.kind, plain.specialist_id, plain.tier)
        assert decision.reason.endswith(plain.reason)  # what routing said, after why not


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.none() | IDS)
def test_a_named_request_never_assigns_anyone_ineligible(
        scenario: Scenario, named: int | None) -> None:
    request, on_call, candidates = scenario
    decision = decide(RoutingRequest(request.specialty, request.urgency, request.exclude,
                                     named), on_call, candidates, NOW)
    if decision.kind is DecisionKind.ASSIGN:
        assert decision.specialist_id is not None
        assert _eligible_on_call(scenario, decision.specialist_id)


def test_why_the_named_specialist_was_passed_over() -> None:
    from datetime import timedelta

    from econsult.routing.rota import OnCallInterval, Source, Tier
    from econsult.routing.targets import Urgency
    from tests.factories import state

    on_call = [OnCallInterval(1, Tier.PRIMARY, NOW - timedelta(hours=1),
                              NOW + timedelta(hours=1), Source.SHIFT),
               OnCallInterval(2, Tier.BACKUP, NOW - timedelta(hours=1),
                              NOW + timedelta(hours=1), Source.SHIFT)]
    people = {1: state(1, open_load=3), 2: state(2, open_load=1, cap=5), 3: state(3),
              4: state(4, active=False)}
    ask = RoutingRequest("dermatology", Urgency.ROUTINE)
    # On call as backup and under cap: chosen over the primary.
    chosen = decide(replace(ask, preferred=2), on_call, people, NOW)
    assert (chosen.specialist_id, chosen.named, chosen.tier) == (2, "chosen", Tier.BACKUP)
    off = decide(replace(ask, preferred=3), on_call, people, NOW)
    assert (off.specialist_id, off.named) == (1, "not_on_call")
    assert off.reason.startswith("named specialist is not on call; on call (primary)")
    assert decide(replace(ask, preferred=4), on_call, people, NOW).named == "inactive"
    full = {**people, 2: state(2, open_load=5, cap=5)}
    assert decide(replace(ask, preferred=2), on_call, full, NOW).named == "at_cap"
    assert decide(replace(ask, preferred=9), on_call, people, NOW).named == "not_of_specialty"
