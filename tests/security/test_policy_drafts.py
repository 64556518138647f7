"""Who may see and work on a draft: its author, and the GP it is for; nobody else,
whatever their role (the services answer them 404)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from econsult.errors import NotFound
from econsult.models import Role
from econsult.security.policy import DRAFT_ACTIONS, Action, Principal, may_draft, require_draft

GP = Principal(1, Role.gp)
OTHER_GP = Principal(2, Role.gp)
DEE = Principal(10, Role.delegate, acts_for=frozenset({1}))  # works for GP 1
COLE = Principal(11, Role.delegate, acts_for=frozenset({1}))  # also works for GP 1
OLLY = Principal(12, Role.delegate, acts_for=frozenset({2}))  # works for GP 2
DERM = Principal(3, Role.specialist, specialties=frozenset({"dermatology"}))
STAFF = Principal(4, Role.staff)
ADMIN = Principal(5, Role.admin)
CLIENT = Principal(1, Role.gp, client_id="emr", acts_for=frozenset({1}))


@dataclass(frozen=True)
class D:
    author_id: int
    gp_id: int | None


GPS_OWN = D(1, 1)
DEES_FOR_GP = D(10, 1)
DEES_UNCHOSEN = D(10, None)


@pytest.mark.parametrize("action", sorted(DRAFT_ACTIONS))
def test_the_author_and_the_gp_it_is_for(action: Action) -> None:
    assert may_draft(GP, action, GPS_OWN)
    assert may_draft(DEE, action, DEES_FOR_GP) and may_draft(GP, action, DEES_FOR_GP)
    assert may_draft(DEE, action, DEES_UNCHOSEN)


@pytest.mark.parametrize("action", sorted(DRAFT_ACTIONS))
@pytest.mark.parametrize("user", [OTHER_GP, COLE, OLLY, DERM, STAFF, ADMIN, CLIENT],
                         ids=lambda u: f"{u.role}-{u.id}")
def test_nobody_else(user: Principal, action: Action) -> None:
    for draft in (GPS_OWN, DEES_FOR_GP, DEES_UNCHOSEN):
        assert not may_draft(user, action, draft)
        with pytest.raises(NotFound):
            require_draft(user, action, draft)


def test_a_delegate_unlinked_from_the_gp_loses_the_draft() -> None:
    unlinked = Principal(10, Role.delegate, acts_for=frozenset({2}))
    assert not may_draft(unlinked, Action.view_draft, DEES_FOR_GP)
    # ...and a GP never gets another GP's draft by being named on it later.
    assert not may_draft(OTHER_GP, Action.view_draft, D(1, 1))


def test_disabled_authors_and_other_actions_get_nothing() -> None:
    assert not may_draft(Principal(1, Role.gp, active=False), Action.view_draft, GPS_OWN)
    assert not may_draft(GP, Action.view, GPS_OWN)  # a consult action is not a draft one
    with pytest.raises(NotFound):
        require_draft(GP, Action.view_draft, None)
