"""The policy for API clients: a client acts for the GPs it is bound to (it may view
their consults and submit for them, nothing else), within its token's scopes."""

from __future__ import annotations

import pytest

from econsult.errors import NotFound, PermissionDenied
from econsult.models import Role
from econsult.security.policy import (
    CONSULT_ACTIONS,
    Action,
    Principal,
    acting_for,
    may,
    may_use,
    require_scope,
)
from econsult.security.scopes import parse_scopes
from tests.security.test_policy import ASSIGNED_TO_DERM, GP, POOLED_DERM, C

SCOPES = parse_scopes("system/*.rs system/ServiceRequest.c")
FOR_GP = Principal(0, Role.gp, email="client:a", acts_for=frozenset({1}), client_id="a",
                   scopes=SCOPES)
FOR_OTHER = Principal(0, Role.gp, email="client:b", acts_for=frozenset({2}), client_id="b",
                      scopes=SCOPES)
FOR_NOBODY = Principal(0, Role.gp, email="client:c", client_id="c", scopes=SCOPES)
OTHER_GPS = C(gp_id=2, specialty="dermatology", state="answered", assigned_to=3)


@pytest.mark.parametrize("consult", [ASSIGNED_TO_DERM, POOLED_DERM, OTHER_GPS])
@pytest.mark.parametrize("client", [FOR_GP, FOR_OTHER, FOR_NOBODY],
                         ids=["for gp 1", "for gp 2", "for nobody"])
@pytest.mark.parametrize("action", sorted(CONSULT_ACTIONS))
def test_a_client_views_its_gps_consults_and_does_nothing_else(
        client: Principal, consult: C, action: Action) -> None:
    bound = consult.gp_id in client.acts_for
    assert may(client, action, consult) is (bound and action in (Action.view, Action.view_meta))


@pytest.mark.parametrize("action", sorted(set(Action) - CONSULT_ACTIONS))
def test_a_client_submits_only_as_one_of_its_gps(action: Action) -> None:
    assert not may(FOR_GP, action)  # as itself, nothing
    as_gp = acting_for(FOR_GP, 1)
    assert (as_gp.id, as_gp.client_id, as_gp.email) == (1, "a", "client:a")
    assert may(as_gp, action) is (action is Action.submit_consult)
    assert not may(as_gp, Action.message, ASSIGNED_TO_DERM)  # still not a person
    with pytest.raises(NotFound):
        acting_for(FOR_GP, 2)
    with pytest.raises(NotFound):
        acting_for(GP, 1)  # a person is not a client
    with pytest.raises(NotFound):
        acting_for(Principal(0, Role.gp, active=False, acts_for=frozenset({1}), client_id="a"), 1)


def test_scopes_decide_what_a_client_may_do_to_each_type() -> None:
    assert may_use(FOR_GP, "Task", "read") and may_use(FOR_GP, "Task", "search")
    assert may_use(FOR_GP, "ServiceRequest", "create")
    assert not may_use(FOR_GP, "Patient", "create")
    assert not may_use(FOR_GP, "Task", "update")
    assert not may_use(GP, "Task", "read")  # people have no scopes
    with pytest.raises(PermissionDenied) as refused:
        require_scope(FOR_GP, "Patient", "create")
    assert refused.value.code == "insufficient_scope"
    require_scope(FOR_GP, "DocumentReference", "search")
