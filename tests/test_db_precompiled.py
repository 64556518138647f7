"""`db.precompiled`: the statements the one-unit write path runs straight on sqlite3 give
what `Connection.execute` gives (the same rows, typed by the columns' result
processors; the statement's own literals bound), and `models.loaded.as_loaded` builds
the same instance as the model's constructor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, insert, or_, select
from starlette.applications import Starlette

from econsult.consults import routing_io
from econsult.db.precompiled import Precompiled, PrecompiledQuery
from econsult.http.state import app_state
from econsult.models import Consult, ConsultEvent, RotaShift, Specialty
from econsult.models.loaded import as_loaded
from tests.factories import Personas

_SHIFTS = RotaShift.__table__  # type: ignore[attr-defined]


async def test_query_rows_are_what_execute_returns(app: Starlette, personas: Personas) -> None:
    db = app_state(app).db
    now = datetime.now(UTC)
    derm = personas.derm.id

    def add_and_read(conn: Connection) -> tuple[list[Any], list[Any]]:
        conn.execute(insert(_SHIFTS), [
            {"specialty": "dermatology", "specialist_id": derm, "tier": "primary",
             "starts_at": now + timedelta(hours=h), "ends_at": now + timedelta(hours=h + 1),
             "created_at": now}
            for h in range(3)])
        query = select(_SHIFTS.c.specialist_id, _SHIFTS.c.starts_at, _SHIFTS.c.tier).where(
            _SHIFTS.c.specialty == bindparam("s"), _SHIFTS.c.starts_at >= bindparam("after"),
            or_(_SHIFTS.c.tier == "primary", _SHIFTS.c.tier == "backup"),  # fixed literals
        ).order_by(_SHIFTS.c.starts_at)
        params = {"s": "dermatology", "after": now + timedelta(minutes=30)}
        return (PrecompiledQuery(query).rows(conn, params),
                [tuple(r) for r in conn.execute(query, params)])

    fast, slow = await db.run_write(add_and_read)
    assert fast == slow and len(fast) == 2
    assert isinstance(fast[0][1], datetime) and fast[0][1].tzinfo is not None
    assert fast[0][1] == now + timedelta(hours=1)


async def test_routing_queries_match_the_session_path(app: Starlette, personas: Personas,
                                                      rota: None) -> None:
    """The submission's routing inputs read through PrecompiledQuery decide as the
    AsyncSession path does."""
    db = app_state(app).db
    tz = app_state(app).settings.timezone
    now = datetime.now(UTC)

    def sync(conn: Connection) -> Any:
        specialty = routing_io.load_specialty_sync(conn, "dermatology")
        return specialty, routing_io.route_sync(conn, specialty=specialty, urgency="routine",
                                                now=now, tz=tz)

    specialty, fast = await db.run_write(sync)
    async with db.read() as session:
        stored = await routing_io.load_specialty(session, "dermatology")
        slow = await routing_io.route(session, specialty=stored, urgency="routine", now=now,
                                      tz=tz)
    assert fast == slow
    assert specialty.model_dump() == stored.model_dump()


def test_an_in_list_of_literals_is_refused_not_mis_bound() -> None:
    from sqlalchemy.dialects import sqlite

    query = PrecompiledQuery(select(_SHIFTS.c.id).where(_SHIFTS.c.tier.in_(["primary"])))
    engine_dialect = sqlite.dialect()

    class Fake:  # just enough of a Connection to reach the compile step
        dialect = engine_dialect

        class connection:  # noqa: N801
            import sqlite3
            driver_connection = sqlite3.connect(":memory:")

    with pytest.raises(TypeError, match="expand"):
        query.rows(Fake(), {})  # type: ignore[arg-type]


async def test_an_update_with_a_literal_in_its_where_binds_it(app: Starlette) -> None:
    db = app_state(app).db
    table = Specialty.__table__  # type: ignore[attr-defined]
    rename = Precompiled(table.update().where(table.c.slug == "dermatology"))

    def renamed(conn: Connection) -> Any:
        rename.run(conn, {"name": "Skin"})
        names: dict[str, str] = dict(conn.execute(select(table.c.slug, table.c.name)).all())
        raise _Undo(names)

    with pytest.raises(_Undo) as undone:
        await db.run_write(renamed)  # rolled back: nothing is left renamed
    (names,) = undone.value.args
    assert names["dermatology"] == "Skin"
    assert all(name != "Skin" for slug, name in names.items() if slug != "dermatology")
    async with db.read() as session:
        assert (await session.get(Specialty, "dermatology")).name != "Skin"  # type: ignore[union-attr]


class _Undo(Exception):
    pass


def test_as_loaded_is_the_constructed_instance() -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": "c1", "gp_id": 1, "submitted_by": 1, "specialty": "dermatology",
        "urgency": "routine", "state": "assigned", "assigned_to": 3, "submitted_at": now,
        "updated_at": now, "patient_name": b"n", "patient_dob": b"d",
        "patient_health_number": b"h", "question": b"q"}
    built, loaded = Consult(**values), as_loaded(Consult, values)
    assert built.model_dump() == loaded.model_dump()
    loaded.state = "pooled"  # still tracked like any instance
    from sqlalchemy import inspect
    assert inspect(loaded).attrs.state.history.added == ["pooled"]
    event: dict[str, Any] = {"consult_id": "c1", "type": "submitted", "actor_id": None, "at": now,
             "data": "{}"}
    assert ConsultEvent(**event).model_dump() == as_loaded(ConsultEvent, event).model_dump()
    assert as_loaded(Specialty, {"slug": "x", "name": "X"}).model_dump() == \
        Specialty(slug="x", name="X").model_dump()
