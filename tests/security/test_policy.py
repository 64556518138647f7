"""The access policy as a full matrix: every role x every action x owner / non-owner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from econsult.models import Role
from econsult.security.policy import CONSULT_ACTIONS, Action, Principal, may, may_hold

GP, OTHER_GP, DERM, DERM2, CARDIO, STAFF, ADMIN = (
    Principal(1, "gp"),
    Principal(2, "gp"),
    Principal(3, "specialist", specialties=frozenset({"dermatology"})),
    Principal(4, "specialist", specialties=frozenset({"dermatology"})),
    Principal(5, "specialist", specialties=frozenset({"cardiology"})),
    Principal(6, "staff"),
    Principal(7, "admin"),
)


@dataclass(frozen=True)
class C:
    gp_id: int
    specialty: str
    state: str
    assigned_to: int | None


ASSIGNED_TO_DERM = C(gp_id=1, specialty="dermatology", state="in_review", assigned_to=3)
POOLED_DERM = C(gp_id=1, specialty="dermatology", state="pooled", assigned_to=None)

A = Action
GP_OWN = {A.view, A.view_meta, A.message, A.convert, A.close, A.cancel}
ROUTED = {A.view, A.view_meta, A.acknowledge, A.message, A.request_clarification, A.answer,
          A.reroute, A.return_to_pool}
POOLED = {A.view, A.view_meta, A.acknowledge, A.reroute}

# (who, consult) -> the exact set of consult actions allowed; everything else is refused.
MATRIX = [
    ("owner gp", GP, ASSIGNED_TO_DERM, GP_OWN),
    ("other gp", OTHER_GP, ASSIGNED_TO_DERM, set()),
    ("assigned specialist", DERM, ASSIGNED_TO_DERM, ROUTED),
    ("same-specialty colleague, not assigned", DERM2, ASSIGNED_TO_DERM, set()),
    ("other specialty", CARDIO, ASSIGNED_TO_DERM, set()),
    ("staff", STAFF, ASSIGNED_TO_DERM, {A.view_meta, A.reassign}),
    ("admin", ADMIN, ASSIGNED_TO_DERM, set()),
    ("owner gp, pooled", GP, POOLED_DERM, GP_OWN),
    ("other gp, pooled", OTHER_GP, POOLED_DERM, set()),
    ("derm, pooled", DERM, POOLED_DERM, POOLED),
    ("derm2, pooled", DERM2, POOLED_DERM, POOLED),
    ("cardio, pooled derm", CARDIO, POOLED_DERM, set()),
    ("staff, pooled", STAFF, POOLED_DERM, {A.view_meta, A.reassign}),
    ("admin, pooled", ADMIN, POOLED_DERM, set()),
]


@pytest.mark.parametrize(("who", "user", "consult", "allowed"), MATRIX,
                         ids=[row[0] for row in MATRIX])
@pytest.mark.parametrize("action", sorted(CONSULT_ACTIONS))
def test_consult_matrix(who: str, user: Principal, consult: C, allowed: set[Action],
                        action: Action) -> None:
    assert may(user, action, consult) is (action in allowed)


GLOBAL = {
    "gp": {A.submit_consult, A.check_images, A.own_account},
    "specialist": {A.work_queue, A.check_images, A.own_account, A.own_absence,
                   A.own_calendar},
    "staff": {A.manage_rota, A.manage_targets, A.view_turnaround, A.export_turnaround,
              A.review_audit, A.view_worklist, A.own_account},
    "admin": {A.manage_users, A.manage_keys, A.review_audit, A.own_account},
}


@pytest.mark.parametrize("user", [GP, DERM, STAFF, ADMIN], ids=lambda u: u.role)
@pytest.mark.parametrize("action", sorted(set(Action) - CONSULT_ACTIONS))
def test_global_matrix(user: Principal, action: Action) -> None:
    assert may(user, action) is (action in GLOBAL[user.role])


@pytest.mark.parametrize("action", sorted(Action))
def test_disabled_users_may_do_nothing(action: Action) -> None:
    disabled = Principal(1, "gp", active=False)
    assert not may(disabled, action, ASSIGNED_TO_DERM)
    assert not may(Principal(7, "admin", active=False), action)


def test_consult_actions_need_a_consult() -> None:
    assert not may(GP, A.view, None)
    assert not may(DERM, A.acknowledge, None)


def test_an_unknown_role_cannot_even_be_a_principal() -> None:
    with pytest.raises(ValueError):
        Principal(9, "auditor")  # type: ignore[arg-type]


@pytest.mark.parametrize(("who", "holder", "allowed"), [
    ("specialist of the specialty", DERM, True),
    ("specialist of another specialty", CARDIO, False),
    ("disabled specialist of the specialty",
     Principal(3, Role.specialist, active=False, specialties=frozenset({"dermatology"})),
     False),
    ("staff", STAFF, False),
    ("admin", ADMIN, False),
    ("gp", GP, False),
])
def test_who_may_hold_a_consult(who: str, holder: Principal, allowed: bool) -> None:
    assert may_hold(holder, ASSIGNED_TO_DERM) is allowed
