"""Nothing stranded: when a holder can no longer act (disabled, specialty or role taken
away, away), what they hold goes back to routing, and each move is on the timeline."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.consults.absences import next_absence_start, process_started_absences
from econsult.consults.scheduler import DeadlineScheduler
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import OPEN_STATES, AuditEvent, Consult, ConsultEvent, RotaAbsence, User
from econsult.routing.rota import Tier
from tests.conftest import ClientFor
from tests.factories import Personas, ok, put_on_call, submit


@pytest.fixture
async def rota(db: Database, personas: Personas, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now(), tier=Tier.PRIMARY)
    await put_on_call(db, personas.derm2, "dermatology", clock.now(), tier=Tier.BACKUP)


async def _held_by(db: Database, user_id: int | None) -> list[Consult]:
    async with db.read() as session:
        return list((await session.execute(select(Consult).where(
            col(Consult.assigned_to) == user_id,
            col(Consult.state).in_([s.value for s in OPEN_STATES])))).scalars())


async def _stranded(db: Database) -> list[str]:
    """Open consults held by an inactive account (checked in the database)."""
    async with db.read() as session:
        rows = (await session.execute(select(col(Consult.id)).join(
            User, col(User.id) == col(Consult.assigned_to)).where(
            col(User.active).is_(False),
            col(Consult.state).in_([s.value for s in OPEN_STATES])))).scalars()
        return list(rows)


async def _types(db: Database, consult_id: str) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(col(ConsultEvent.type)).where(
            col(ConsultEvent.consult_id) == consult_id).order_by(col(ConsultEvent.id))
        )).scalars())


async def _admin_form(client_for: ClientFor, personas: Personas) -> tuple[httpx.AsyncClient, str]:
    admin = await client_for(personas.admin)
    return admin, admin.headers.pop("X-CSRF-Token")


async def test_disabling_the_on_call_specialist_moves_every_consult_they_hold(
        rota: None, personas: Personas, client_for: ClientFor, db: Database) -> None:
    gp = await client_for(personas.gp)
    derm = await client_for(personas.derm)
    ids = [ok(await submit(gp, urgency=u), 201)["id"]
           for u in ("urgent", "routine", "semi_urgent", "routine")]
    ok(await derm.post(f"/api/v1/consults/{ids[1]}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{ids[3]}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{ids[3]}/messages",
                       json={"kind": "clarification_request", "body": "More detail?"}), 201)
    assert len(await _held_by(db, personas.derm.id)) == 4
    admin, csrf = await _admin_form(client_for, personas)

    confirm = await admin.get(f"/admin/users/{personas.derm.id}/disable")
    assert confirm.status_code == 200
    assert "4 open consults" in confirm.text and "1 open session" in confirm.text
    r = await admin.post(f"/admin/users/{personas.derm.id}/active",
                         data={"csrf_token": csrf, "active": "0"})
    assert r.status_code == 303
    listing = await admin.get(r.headers["location"])
    assert "4 open consults went back to routing" in listing.text

    assert await _stranded(db) == []
    assert await _held_by(db, personas.derm.id) == []
    moved = {c.id: c for c in await _held_by(db, personas.derm2.id)}
    assert set(moved) == set(ids)  # the backup on call takes them
    assert moved[ids[3]].state == "awaiting_gp"  # still waiting for the GP, paused
    assert moved[ids[1]].state == "assigned" and moved[ids[1]].acknowledged_at is not None
    for cid in ids:
        assert (await _types(db, cid))[-1] == "handed_back"
        timeline = ok(await gp.get(f"/api/v1/consults/{cid}"))["events"]
        assert timeline[-1]["reason"] == "holder_disabled"
        assert timeline[-1]["actor"] == personas.admin.id
    async with db.read() as session:
        detail = (await session.execute(select(col(AuditEvent.detail)).where(
            col(AuditEvent.action) == "user.disable"))).scalar_one()
        moves = (await session.execute(select(col(AuditEvent.object_id)).where(
            col(AuditEvent.action) == "consult.hand_back"))).scalars().all()
    assert detail == "sessions_revoked=1 consults_moved=4" and set(moves) == set(ids)


async def test_with_nobody_else_on_call_they_go_to_the_pool(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    admin, csrf = await _admin_form(client_for, personas)
    await admin.post(f"/admin/users/{personas.derm.id}/active",
                     data={"csrf_token": csrf, "active": "0"})
    async with db.read() as session:
        consult = await session.get(Consult, cid)
    assert consult is not None
    assert (consult.state, consult.assigned_to, consult.ack_due_at) == ("pooled", None, None)
    derm2 = await client_for(personas.derm2)
    assert cid in [c["id"] for c in ok(await derm2.get("/api/v1/consults"))["consults"]]


async def test_taking_a_specialty_away_moves_only_its_consults(
        rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    admin, csrf = await _admin_form(client_for, personas)
    # derm also holds cardiology for a while, and is on its rota.
    r = await admin.post(f"/admin/users/{personas.derm.id}", data={
        "csrf_token": csrf, "action": "update", "name": personas.derm.name,
        "role": "specialist", "specialties": ["dermatology", "cardiology"]})
    assert r.status_code == 303, r.text
    await put_on_call(db, personas.derm, "cardiology", clock.now())
    await put_on_call(db, personas.cardio, "cardiology", clock.now(), tier=Tier.BACKUP)
    gp = await client_for(personas.gp)
    derm_case = ok(await submit(gp), 201)["id"]
    cardio_case = ok(await submit(gp, specialty="cardiology", body_site=""), 201)["id"]
    assert {c.id for c in await _held_by(db, personas.derm.id)} == {derm_case, cardio_case}

    r = await admin.post(f"/admin/users/{personas.derm.id}", data={
        "csrf_token": csrf, "action": "update", "name": "Dr Dana Ermine-Smith",
        "role": "specialist", "specialties": ["dermatology"]})
    assert r.status_code == 303
    assert "moved=1" in r.headers["location"]
    assert [c.id for c in await _held_by(db, personas.derm.id)] == [derm_case]
    assert [c.id for c in await _held_by(db, personas.cardio.id)] == [cardio_case]
    assert (await _types(db, cardio_case))[-1] == "handed_back"
    async with db.read() as session:
        user = await session.get(User, personas.derm.id)
        detail = (await session.execute(select(col(AuditEvent.detail)).where(
            col(AuditEvent.action) == "user.update").order_by(col(AuditEvent.id).desc())
        )).scalars().first()
    assert user is not None and user.name == "Dr Dana Ermine-Smith"
    assert detail == "-cardiology consults_moved=1"

    # Making them staff takes the rest; specialties must go with the role.
    r = await admin.post(f"/admin/users/{personas.derm.id}", data={
        "csrf_token": csrf, "action": "update", "name": "Dr Dana Ermine-Smith",
        "role": "staff", "specialties": ["dermatology"]})
    assert r.status_code == 400 and "Only specialists hold specialties" in r.text
    r = await admin.post(f"/admin/users/{personas.derm.id}", data={
        "csrf_token": csrf, "action": "update", "name": "Dr Dana Ermine-Smith",
        "role": "staff"})
    assert r.status_code == 303
    assert await _held_by(db, personas.derm.id) == []
    assert (await _types(db, derm_case))[-1] == "handed_back"


async def test_an_absence_covering_now_moves_them_at_once(
        rota: None, personas: Personas, client_for: ClientFor, db: Database) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp), 201)["id"]
    r = await staff.post("/api/v1/rota/absences", json={
        "specialist": personas.derm.email, "starts_at": "2026-03-02T08:00",
        "ends_at": "2026-03-06T17:00"})
    assert r.status_code == 201, r.text
    assert [c.id for c in await _held_by(db, personas.derm2.id)] == [cid]
    assert ok(await gp.get(f"/api/v1/consults/{cid}"))["events"][-1]["reason"] == \
        "holder_absent"
    # And while away they are not routed to: the next consult goes to the backup.
    assert ok(await submit(gp), 201)["assigned_to"] == personas.derm2.id


async def test_a_future_absence_is_handled_by_the_scheduler_when_it_starts(
        app: Starlette, rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp), 201)["id"]
    r = await staff.post("/api/v1/rota/absences", json={
        "specialist": personas.derm.email, "starts_at": "2026-03-02T12:00",
        "ends_at": "2026-03-02T18:00"})  # starts three hours from the test clock's 09:00
    assert r.status_code == 201
    deps = app_state(app)
    assert [c.id for c in await _held_by(db, personas.derm.id)] == [cid]  # not yet
    start = await next_absence_start(deps)
    assert start is not None and start == clock.now() + timedelta(hours=3)
    scheduler = DeadlineScheduler(max_sleep=3600 * 24)
    delay = await scheduler.run_once(deps)
    assert delay <= 3 * 3600  # it sleeps no later than the absence's start
    assert await process_started_absences(deps) == 0
    clock.advance(timedelta(hours=3))
    await scheduler.run_once(deps)
    assert [c.id for c in await _held_by(db, personas.derm2.id)] == [cid]
    assert await process_started_absences(deps) == 0  # claimed once only
    async with db.read() as session:
        absence = (await session.execute(select(RotaAbsence))).scalar_one()
    assert absence.handed_back_at == clock.now()
    assert await next_absence_start(deps) is None


async def test_a_specialists_own_out_of_office_on_the_account_page(
        rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    derm = await client_for(personas.derm)
    csrf = derm.headers.pop("X-CSRF-Token")
    page = await derm.get("/account")
    assert page.status_code == 200 and 'id="outofoffice"' in page.text
    r = await derm.post("/account", data={"csrf_token": csrf, "action": "add_absence",
                                          "starts_at": "2026-03-02T09:00",
                                          "ends_at": "2026-03-02T08:00"})
    assert r.status_code == 400 and "must end after it starts" in r.text
    r = await derm.post("/account", data={"csrf_token": csrf, "action": "add_absence",
                                          "starts_at": "2026-03-02T08:30",
                                          "ends_at": "2026-03-03T08:00"})
    assert r.status_code == 303
    page = await derm.get(r.headers["location"])
    assert "Out-of-office saved." in page.text and "Tue 03 Mar 2026 08:00" in page.text
    assert [c.id for c in await _held_by(db, personas.derm2.id)] == [cid]
    async with db.read() as session:
        absence = (await session.execute(select(RotaAbsence))).scalar_one()
    other = await client_for(personas.derm2)
    other_csrf = other.headers.pop("X-CSRF-Token")
    r = await other.post("/account", data={"csrf_token": other_csrf,
                                           "action": "delete_absence", "id": str(absence.id)})
    assert r.status_code == 404  # not theirs
    r = await derm.post("/account", data={"csrf_token": csrf, "action": "delete_absence",
                                          "id": str(absence.id)})
    assert r.status_code == 303
    for who in (personas.gp, personas.staff):
        page = await (await client_for(who)).get("/account")
        assert page.status_code == 200 and 'id="outofoffice"' not in page.text
