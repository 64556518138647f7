"""The list filter and the policy agree, whatever the data: every consult a list query
returns satisfies `may(view_meta)`, and every consult the user `may(view)` is listed.

Random worlds (people with roles and specialties, delegates linked to random people,
consults in any state, assigned to anyone or no one) are written to an in-memory SQLite
database with the real schema; the real list condition (`consult_filter`) selects from
it, and each delegate's `acts_for` is what the session would load from those links.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, insert, select
from sqlalchemy.pool import StaticPool
from sqlmodel import col

from econsult.models import Consult, ConsultState, DelegateLink, Role, UserSpecialty
from econsult.models.base import metadata
from econsult.security.fields import FieldCipher
from econsult.security.groups import delegates_group, user_group
from econsult.security.keyring import Kek, Keyring, new_key
from econsult.security.policy import (
    Action,
    Principal,
    audience,
    event_audience,
    is_requester,
    may,
    side,
    submits_for,
    visible_consults,
)

SPECIALTIES = ("dermatology", "cardiology", "psychiatry")
NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
SEAL = FieldCipher(Keyring(Kek.from_bytes(new_key()))).seal
SEALED = ("patient_name", "patient_dob", "patient_health_number", "question")


@dataclass(frozen=True)
class Row:
    id: str
    gp_id: int
    specialty: str
    state: str
    assigned_to: int | None


people = st.lists(
    st.tuples(st.sampled_from(list(Role)), st.frozensets(st.sampled_from(SPECIALTIES)),
              st.booleans()),
    min_size=1, max_size=6)
# Who each person is linked to as a delegate (by position; only delegates' links load).
link_sets = st.lists(st.frozensets(st.integers(1, 6), max_size=3), min_size=6, max_size=6)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Principal], list[Row]]:
    drawn = draw(people)
    # Links are drawn for everyone (a link may name a non-GP, or sit on a person whose
    # role is no longer delegate) and written to the table as `acts_for` says: only a
    # delegate's may count, for lists and `may` alike.
    links = [frozenset(i for i in ids if i <= len(drawn)) for ids in draw(link_sets)]
    users = [Principal(i + 1, role, active=active,
                       specialties=specs if role is Role.specialist else frozenset(),
                       acts_for=links[i])
             for i, (role, specs, active) in enumerate(drawn)]
    ids = [u.id for u in users]
    consults = draw(st.lists(st.builds(
        Row, id=st.builds(lambda: str(uuid.uuid4())), gp_id=st.sampled_from(ids),
        specialty=st.sampled_from(SPECIALTIES), state=st.sampled_from([s.value for s in
                                                                      ConsultState]),
        assigned_to=st.one_of(st.none(), st.sampled_from(ids))), max_size=12))
    return users, consults


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    eng = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(eng, tables=[metadata.tables["consults"],
                                     metadata.tables["user_specialties"],
                                     metadata.tables["delegate_links"]])
    yield eng
    eng.dispose()


def _write(engine: Engine, users: list[Principal], consults: list[Row]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(Consult))
        conn.execute(delete(UserSpecialty))
        conn.execute(delete(DelegateLink))
        links = [{"user_id": u.id, "specialty": s} for u in users for s in sorted(u.specialties)]
        if links:
            conn.execute(insert(UserSpecialty), links)
        delegations = [{"delegate_id": u.id, "gp_id": g, "created_at": NOW}
                       for u in users for g in sorted(u.acts_for)]
        if delegations:
            conn.execute(insert(DelegateLink), delegations)
        if consults:
            conn.execute(insert(Consult), [{
                "id": c.id, "gp_id": c.gp_id, "specialty": c.specialty, "urgency": "routine",
                "state": c.state, "assigned_to": c.assigned_to, "submitted_at": NOW,
                "updated_at": NOW,
                **{name: SEAL("consults", name, c.id, "-") for name in SEALED},
            } for c in consults])


@settings(max_examples=150, deadline=None)
@given(world=worlds())
def test_lists_show_exactly_what_the_policy_allows(
    engine: Engine, world: tuple[list[Principal], list[Row]]
) -> None:
    users, consults = world
    _write(engine, users, consults)
    for user in users:
        with engine.connect() as conn:
            listed = set(conn.execute(select(col(Consult.id))
                                      .where(visible_consults(user))).scalars())
        for consult in consults:
            if consult.id in listed:
                assert may(user, Action.view_meta, consult), (user, consult)
            if may(user, Action.view, consult):
                assert consult.id in listed, (user, consult)
            if may(user, Action.view_meta, consult):
                assert consult.id in listed, (user, consult)


@settings(max_examples=150, deadline=None)
@given(world=worlds())
def test_delegates_see_write_and_hear_exactly_their_gps_consults(
    world: tuple[list[Principal], list[Row]]
) -> None:
    """Whatever the links: a delegate reaches a consult exactly when its GP is one of
    theirs, writes on the requesting side of it, never closes, converts or cancels, and
    their socket hears its events exactly then. Nobody else gains anything from links."""
    users, consults = world
    for user in users:
        for consult in consults:
            mine = user.active and consult.gp_id in user.acts_for
            if user.role is Role.delegate:
                assert may(user, Action.view, consult) is mine
                assert may(user, Action.message, consult) is mine
                assert is_requester(user, consult) is mine
                assert side(user, consult) == ("requester" if mine else None)
                for action in (Action.close, Action.convert, Action.cancel, Action.answer,
                               Action.acknowledge, Action.request_clarification):
                    assert not may(user, action, consult)
                if user.id not in (consult.gp_id, consult.assigned_to):  # (worlds are random)
                    hears = bool(audience(user) & event_audience(consult, None))
                    assert hears is (consult.gp_id in user.acts_for), (user, consult)
                assert submits_for(user, consult.gp_id) is mine
            else:
                unlinked = Principal(user.id, user.role, active=user.active,
                                     specialties=user.specialties)
                for action in Action:
                    assert may(user, action, consult) is may(unlinked, action, consult)
                assert audience(user) == audience(unlinked)
                assert side(user, consult) == side(unlinked, consult)
            # A delegate's links never reach the GP's own personal group.
            assert user_group(consult.gp_id) not in audience(user) or user.id == consult.gp_id
        assert all(not g.startswith("delegates:") or user.role is Role.delegate
                   for g in audience(user))
        if user.role is Role.delegate:
            assert {g for g in audience(user) if g.startswith("delegates:")} == {
                delegates_group(g) for g in user.acts_for}
