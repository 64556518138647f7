"""The access policy as a full matrix: every role x every action x owner / non-owner,
with delegates of the owner and of another GP."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from econsult.models import Role
from econsult.security.groups import delegates_group, user_group
from econsult.security.policy import (
    CONSULT_ACTIONS,
    Action,
    Principal,
    audience,
    event_audience,
    is_requester,
    may,
    may_hold,
    side,
    submits_for,
)

GP, OTHER_GP, DERM, DERM2, CARDIO, STAFF, ADMIN = (
    Principal(1, Role.gp),
    Principal(2, Role.gp),
    Principal(3, Role.specialist, specialties=frozenset({"dermatology"})),
    Principal(4, Role.specialist, specialties=frozenset({"dermatology"})),
    Principal(5, Role.specialist, specialties=frozenset({"cardiology"})),
    Principal(6, Role.staff),
    Principal(7, Role.admin),
)
# Clinic staff: of the owner (GP 1), of another GP (2), of both.
DELEGATE, OTHER_DELEGATE, BOTH_DELEGATE = (
    Principal(8, Role.delegate, acts_for=frozenset({1})),
    Principal(9, Role.delegate, acts_for=frozenset({2})),
    Principal(10, Role.delegate, acts_for=frozenset({1, 2})),
)
# `acts_for` means something only to the roles whose rules read it.
STRAY_GP = Principal(2, Role.gp, acts_for=frozenset({1}))
STRAY_SPECIALIST = Principal(5, Role.specialist, specialties=frozenset({"cardiology"}),
                             acts_for=frozenset({1}))


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
DELEGATE_OF_OWNER = {A.view, A.view_meta, A.message}  # never close, convert, cancel

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
    ("delegate of the owner", DELEGATE, ASSIGNED_TO_DERM, DELEGATE_OF_OWNER),
    ("delegate of another gp", OTHER_DELEGATE, ASSIGNED_TO_DERM, set()),
    ("delegate of both gps", BOTH_DELEGATE, ASSIGNED_TO_DERM, DELEGATE_OF_OWNER),
    ("delegate of the owner, pooled", DELEGATE, POOLED_DERM, DELEGATE_OF_OWNER),
    ("delegate of another gp, pooled", OTHER_DELEGATE, POOLED_DERM, set()),
    ("gp with a stray acts_for", STRAY_GP, ASSIGNED_TO_DERM, set()),
    ("specialist with a stray acts_for", STRAY_SPECIALIST, ASSIGNED_TO_DERM, set()),
]


@pytest.mark.parametrize(("who", "user", "consult", "allowed"), MATRIX,
                         ids=[row[0] for row in MATRIX])
@pytest.mark.parametrize("action", sorted(CONSULT_ACTIONS))
def test_consult_matrix(who: str, user: Principal, consult: C, allowed: set[Action],
                        action: Action) -> None:
    assert may(user, action, consult) is (action in allowed)


GLOBAL = {
    Role.gp: {A.submit_consult, A.check_images, A.start_draft, A.own_account},
    Role.specialist: {A.work_queue, A.check_images, A.own_account, A.own_absence,
                      A.own_calendar, A.own_templates},
    Role.staff: {A.manage_rota, A.manage_targets, A.view_turnaround, A.export_turnaround,
                 A.review_audit, A.view_worklist, A.own_account, A.manage_checklists},
    Role.admin: {A.manage_users, A.manage_keys, A.review_audit, A.own_account},
    Role.delegate: {A.submit_consult, A.check_images, A.start_draft, A.own_account},
}


@pytest.mark.parametrize("user", [GP, DERM, STAFF, ADMIN, DELEGATE], ids=lambda u: u.role)
@pytest.mark.parametrize("action", sorted(set(Action) - CONSULT_ACTIONS))
def test_global_matrix(user: Principal, action: Action) -> None:
    assert may(user, action) is (action in GLOBAL[user.role])


@pytest.mark.parametrize("action", sorted(Action))
def test_disabled_users_may_do_nothing(action: Action) -> None:
    disabled = Principal(1, Role.gp, active=False)
    assert not may(disabled, action, ASSIGNED_TO_DERM)
    assert not may(Principal(7, Role.admin, active=False), action)
    assert not may(Principal(8, Role.delegate, active=False, acts_for=frozenset({1})), action,
                   ASSIGNED_TO_DERM)


def test_consult_actions_need_a_consult() -> None:
    assert not may(GP, A.view, None)
    assert not may(DERM, A.acknowledge, None)


def test_an_unknown_role_cannot_even_be_a_principal() -> None:
    with pytest.raises(ValueError):
        Principal(9, "auditor")  # type: ignore[arg-type]


# Which side of the thread each one writes on: a delegate relays for the GP.
SIDES = [
    (GP, "requester"), (DELEGATE, "requester"), (BOTH_DELEGATE, "requester"),
    (OTHER_DELEGATE, None), (OTHER_GP, None), (STRAY_GP, None), (DERM, "specialist"),
    (DERM2, None), (STAFF, None), (ADMIN, None),
    (Principal(8, Role.delegate, active=False, acts_for=frozenset({1})), None),
]


@pytest.mark.parametrize(("user", "expected"), SIDES, ids=lambda v: getattr(v, "role", v))
def test_side_and_requester(user: Principal, expected: str | None) -> None:
    assert side(user, ASSIGNED_TO_DERM) == expected
    assert is_requester(user, ASSIGNED_TO_DERM) is (expected == "requester")


SUBMITS_FOR = [
    (GP, 1, True), (GP, 2, False), (OTHER_GP, 1, False), (STRAY_GP, 1, False),
    (DELEGATE, 1, True), (DELEGATE, 2, False), (DELEGATE, 8, False),
    (BOTH_DELEGATE, 1, True), (BOTH_DELEGATE, 2, True), (OTHER_DELEGATE, 1, False),
    (DERM, 1, False), (STAFF, 1, False), (ADMIN, 1, False),
    (Principal(8, Role.delegate, active=False, acts_for=frozenset({1})), 1, False),
]


@pytest.mark.parametrize(("user", "gp_id", "allowed"), SUBMITS_FOR)
def test_who_may_submit_for_which_gp(user: Principal, gp_id: int, allowed: bool) -> None:
    assert submits_for(user, gp_id) is allowed


def test_delegates_hear_their_gps_consults_and_nothing_personal_to_the_gp() -> None:
    groups = event_audience(ASSIGNED_TO_DERM, None)
    assert delegates_group(1) in groups
    assert audience(DELEGATE) & groups
    assert not audience(OTHER_DELEGATE) & groups
    assert user_group(1) not in audience(DELEGATE)  # the GP's own group stays the GP's
    assert audience(BOTH_DELEGATE) == {user_group(10), delegates_group(1), delegates_group(2)}
    assert audience(STRAY_GP) == {user_group(2)}


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
