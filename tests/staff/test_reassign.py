"""Staff reassigning a consult: who may, where it may go, what it leaves untouched."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import AuditEvent, Consult, RotaAbsence, User
from econsult.realtime.events import user_group
from econsult.routing.rota import Tier
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok, put_on_call, submit

URL = "/api/v1/consults/{}/reassign"


@pytest.fixture
async def rota(db: Database, personas: Personas, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now(), tier=Tier.PRIMARY)
    await put_on_call(db, personas.derm2, "dermatology", clock.now(), tier=Tier.BACKUP)


async def _consult(db: Database, consult_id: str) -> Consult:
    async with db.read() as session:
        found = await session.get(Consult, consult_id)
    assert found is not None
    return found


async def _first(subscription: Any, type_: str) -> Any:
    """The first event of a type (on PostgreSQL, earlier events may still be arriving)."""
    async for event in subscription:
        if event.type == type_:
            return event
    raise AssertionError(f"no {type_} event")


async def test_staff_reassign_moves_it_live_and_leaves_the_clock_alone(
        app: Starlette, rota: None, personas: Personas, client_for: ClientFor,
        db: Database, clock: ManualClock) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp, urgency="urgent"), 201)["id"]
    before = await _consult(db, cid)
    assert before.assigned_to == personas.derm.id
    clock.advance(timedelta(minutes=10))
    bus = app_state(app).bus
    async with bus.subscribe({user_group(personas.derm2.id or 0)}) as new_queue, \
            bus.subscribe({user_group(personas.derm.id or 0)}) as old_queue:
        moved = ok(await staff.post(URL.format(cid), json={
            "specialist": personas.derm2.email, "reason": "Dr Ermine is in clinic"}))
        heard_new = await asyncio.wait_for(_first(new_queue, "reassigned"), 5)
        heard_old = await asyncio.wait_for(_first(old_queue, "reassigned"), 5)
    assert moved["assigned_to"] == personas.derm2.id and moved["state"] == "assigned"
    for event in (heard_new, heard_old):
        assert event.type == "reassigned" and event.consult_id == cid
        assert event.data["assigned_to"] == personas.derm2.id
        assert event.data["previous_assigned_to"] == personas.derm.id
        assert "reason" not in event.data  # free text never travels on the bus
    after = await _consult(db, cid)
    assert (after.submitted_at, after.respond_due_at, after.at_risk_due_at,
            after.target_seconds) == (before.submitted_at, before.respond_due_at,
                                      before.at_risk_due_at, before.target_seconds)
    assert after.ack_due_at is not None and after.ack_due_at > before.ack_due_at  # type: ignore[operator]
    timeline = ok(await gp.get(f"/api/v1/consults/{cid}"))["events"]
    last = timeline[-1]
    assert last["type"] == "reassigned" and last["actor"] == personas.staff.id
    assert last["actor_name"] == personas.staff.name
    assert last["reason"] == "Dr Ermine is in clinic" and last["to"] == "specialist"
    async with db.read() as session:
        entry = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "consult.reassign"))).scalar_one()
    assert entry.actor_id == personas.staff.id and entry.object_id == cid
    assert f"from={personas.derm.id} to={personas.derm2.id}" in entry.detail
    derm2 = await client_for(personas.derm2)
    queue = ok(await derm2.get("/api/v1/consults"))["consults"]
    assert [c["id"] for c in queue] == [cid]


async def test_back_to_the_pool_keeps_the_acknowledgement(
        rota: None, personas: Personas, client_for: ClientFor, db: Database) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    derm = await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    acknowledged = (await _consult(db, cid)).acknowledged_at
    moved = ok(await staff.post(URL.format(cid), json={"pool": True, "reason": "leave"}))
    assert moved["state"] == "pooled" and moved["assigned_to"] is None
    after = await _consult(db, cid)
    assert after.acknowledged_at == acknowledged and after.ack_due_at is None
    derm2 = await client_for(personas.derm2)
    assert cid in [c["id"] for c in ok(await derm2.get("/api/v1/consults"))["consults"]]


async def test_waiting_for_the_gp_stays_paused_and_the_reply_finds_a_holder(
        rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    derm = await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Photos?"}), 201)
    moved = ok(await staff.post(URL.format(cid), json={"pool": True, "reason": "rota"}))
    assert moved["state"] == "awaiting_gp" and moved["assigned_to"] is None
    assert moved["due_at"] is None  # still paused
    clock.advance(timedelta(minutes=5))
    reply = ok(await gp.post(f"/api/v1/consults/{cid}/messages",
                             json={"kind": "message", "body": "Attached."}), 201)
    # Routing ran again when the GP replied: the primary on call takes it.
    assert reply["consult"]["state"] == "assigned" and reply["consult"]["due_at"]
    assert reply["consult"]["assigned_to"] == personas.derm.id
    types = [e["type"] for e in ok(await gp.get(f"/api/v1/consults/{cid}"))["events"]]
    assert types[-3:] == ["reassigned", "gp_replied", "handed_back"]


async def _bad(staff: Any, cid: str, body: dict[str, Any], status: int, words: str) -> None:
    r = await staff.post(URL.format(cid), json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"]


async def test_reassign_refuses_who_cannot_take_it_and_changes_nothing(
        rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp), 201)["id"]
    before = await _consult(db, cid)
    await _bad(staff, cid, {"specialist": personas.cardio.email, "reason": "x"}, 400,
               "cannot take dermatology")
    await _bad(staff, cid, {"specialist": personas.staff.email, "reason": "x"}, 400,
               "cannot take")
    await _bad(staff, cid, {"specialist": "nobody@example.org", "reason": "x"}, 400,
               "No specialist")
    await _bad(staff, cid, {"specialist": personas.derm.email, "reason": "x"}, 409,
               "already holds")
    await _bad(staff, cid, {"reason": "x"}, 400, "one of the two")
    await _bad(staff, cid, {"pool": True, "specialist": personas.derm2.email, "reason": "x"},
               400, "one of the two")
    await _bad(staff, cid, {"pool": True, "reason": "  "}, 400, "Say why")
    async with db.write() as session:
        session.add(RotaAbsence(specialist_id=personas.derm2.id or 0,
                                starts_at=clock.now() - timedelta(hours=1),
                                ends_at=clock.now() + timedelta(days=2),
                                created_at=clock.now()))
    await _bad(staff, cid, {"specialist": personas.derm2.email, "reason": "x"}, 400, "away")
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == personas.derm2.id)
                              .values(active=False))
    await _bad(staff, cid, {"specialist": personas.derm2.email, "reason": "x"}, 400,
               "disabled")
    after = await _consult(db, cid)
    assert (after.state, after.assigned_to, after.updated_at) == (
        before.state, before.assigned_to, before.updated_at)
    assert ok(await staff.get(f"/api/v1/consults/{cid}"))["actions"] == ["reassign"]
    cancelled = ok(await gp.post(f"/api/v1/consults/{cid}/cancel"))
    assert cancelled["state"] == "cancelled"
    await _bad(staff, cid, {"pool": True, "reason": "x"}, 409, "Only an open consult")
    assert ok(await staff.get(f"/api/v1/consults/{cid}"))["actions"] == []


@pytest.mark.parametrize("who", ["gp", "derm", "derm2", "cardio", "admin"])
async def test_only_staff_reassign_and_read_the_work_list(
        rota: None, personas: Personas, client_for: ClientFor, who: str) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    other = await client_for(getattr(personas, who))
    r = await other.post(URL.format(cid), json={"pool": True, "reason": "mine now"})
    assert r.status_code == 404  # like an unknown id
    assert (await other.get("/api/v1/worklist")).status_code == 404
    anon_like = await client_for(personas.staff)
    assert (await anon_like.post(URL.format("not-a-uuid"),
                                 json={"pool": True, "reason": "x"})).status_code == 404


async def test_the_work_list_names_why_and_shows_no_clinical_content(
        rota: None, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock, app: Starlette) -> None:
    from econsult.consults.escalation import process_due

    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    derm = await client_for(personas.derm)
    late = ok(await submit(gp, urgency="urgent"), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{late}/acknowledge"))
    fine = ok(await submit(gp, urgency="routine"), 201)["id"]
    away = ok(await submit(gp, urgency="routine"), 201)["id"]
    async with db.write() as session:
        await session.execute(update(Consult).where(col(Consult.id) == away)
                              .values(assigned_to=personas.derm2.id))
        session.add(RotaAbsence(specialist_id=personas.derm2.id or 0,
                                starts_at=clock.now(), ends_at=clock.now() + timedelta(days=1),
                                created_at=clock.now()))
    clock.advance(timedelta(hours=3))
    await process_due(app_state(app))
    staff = await client_for(personas.staff)
    r = await staff.get("/api/v1/worklist")
    body = ok(r)
    by_id = {c["id"]: c for c in body["consults"]}
    assert fine not in by_id
    assert [x["code"] for x in by_id[late]["reasons"]] == ["breached"]
    assert by_id[late]["seconds_left"] < 0 and by_id[late]["holder"]["name"] == "Dr Dana Ermine"
    assert "holder_absent" in [x["code"] for x in by_id[away]["reasons"]]
    assert by_id[away]["holder"]["away_until"]
    assert list(by_id)[0] == late  # breached first
    for secret in (FORM["patient_name"], FORM["question"][:20], FORM["patient_health_number"]):
        assert secret not in r.text
    page = await staff.get("/worklist")
    assert page.status_code == 200
    for secret in (FORM["patient_name"], FORM["question"][:20], FORM["patient_health_number"]):
        assert secret not in page.text
