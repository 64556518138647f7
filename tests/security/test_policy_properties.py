"""The list filter and the policy agree, whatever the data: every consult a list query
returns satisfies `may(view_meta)`, and every consult the user `may(view)` is listed.

Random worlds (people with roles and specialties, consults in any state, assigned to
anyone or no one) are written to an in-memory SQLite database with the real schema;
the real list condition (`consult_filter`) selects from it.
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

from econsult.models import Consult, ConsultState, Role, UserSpecialty
from econsult.models.base import metadata
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Kek, Keyring, new_key
from econsult.security.policy import Action, Principal, may, visible_consults

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


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Principal], list[Row]]:
    users = [Principal(i + 1, role, active=active,
                       specialties=specs if role is Role.specialist else frozenset())
             for i, (role, specs, active) in enumerate(draw(people))]
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
                                     metadata.tables["user_specialties"]])
    yield eng
    eng.dispose()


def _write(engine: Engine, users: list[Principal], consults: list[Row]) -> None:
    with engine.begin() as conn:
        conn.execute(delete(Consult))
        conn.execute(delete(UserSpecialty))
        links = [{"user_id": u.id, "specialty": s} for u in users for s in sorted(u.specialties)]
        if links:
            conn.execute(insert(UserSpecialty), links)
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
