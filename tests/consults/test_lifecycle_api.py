"""The consult lifecycle through the JSON API, from every persona's side."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults.escalation import process_due
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import AuditEvent, Consult, ConsultEvent
from tests.conftest import ClientFor
from tests.factories import ConsultForm, Personas, ok, put_on_call, submit


async def test_full_walk_through_states_with_timeline(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock
) -> None:
    gp = await client_for(personas.gp)
    derm = await client_for(personas.derm)
    created = ok(await submit(gp), 201)
    assert created["state"] == "assigned"
    assert created["assigned_to"] == personas.derm.id
    assert created["due_at"] and created["specialty"] == "dermatology"
    cid = created["id"]

    clock.advance(timedelta(minutes=5))
    assert ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))["state"] == "in_review"
    clock.advance(timedelta(minutes=5))
    r = ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                           json={"kind": "clarification_request", "body": "Any bleeding?"}), 201)
    assert r["consult"]["state"] == "awaiting_gp" and r["consult"]["due_at"] is None
    clock.advance(timedelta(hours=3))
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)  # idle timeout
    r = ok(await gp.post(f"/api/v1/consults/{cid}/messages",
                         json={"kind": "message", "body": "No bleeding, slight itch."}), 201)
    assert r["consult"]["state"] == "in_review" and r["consult"]["due_at"]
    clock.advance(timedelta(minutes=20))
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    r = ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                           json={"kind": "answer", "body": "Excise; low suspicion.",
                                 "minutes": 45}), 201)
    assert r["consult"]["state"] == "answered"
    closed = ok(await gp.post(f"/api/v1/consults/{cid}/close",
                              json={"outcome": "referral_avoided", "usefulness": 5}))
    assert closed["state"] == "closed"

    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    steps = [(e["type"], e["actor"]) for e in detail["events"]]
    assert steps == [
        ("submitted", personas.gp.id), ("assigned", None),
        ("acknowledged", personas.derm.id), ("clarification_requested", personas.derm.id),
        ("gp_replied", personas.gp.id), ("answered", personas.derm.id),
        ("closed", personas.gp.id),
    ]
    assert all(e["at"].endswith("+00:00") for e in detail["events"])
    assert detail["minutes_spent"] == 45
    assert detail["question"].startswith("Pigmented lesion")
    assert [m["kind"] for m in detail["messages"]] == ["clarification_request", "message",
                                                        "answer"]
    assert detail["outcome"] == "referral_avoided" and detail["usefulness"] == 5


async def test_turnaround_columns_exclude_the_pause(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    clock.advance(timedelta(hours=1))
    derm = await client_for(personas.derm)  # a fresh session after the idle timeout
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Size?"}), 201)
    clock.advance(timedelta(hours=5))
    gp = await client_for(personas.gp)
    ok(await gp.post(f"/api/v1/consults/{cid}/messages", json={"body": "6 mm"}), 201)
    clock.advance(timedelta(hours=2))
    derm = await client_for(personas.derm)
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Fine.", "minutes": 10}), 201)
    async with db.read() as session:
        consult = await session.get(Consult, cid)
    assert consult is not None
    assert consult.seconds_to_answer == 3 * 3600  # 8 h wall minus the 5 h pause
    assert consult.paused_seconds == 5 * 3600
    assert consult.within_target is True


async def test_other_personas_get_404(rota: None, personas: Personas,
                                      client_for: ClientFor) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    for persona in (personas.other_gp, personas.cardio, personas.derm2, personas.admin):
        client = await client_for(persona)
        r = await client.get(f"/api/v1/consults/{cid}")
        assert r.status_code == 404, persona.email
        assert r.json()["error"]["code"] == "not_found"
        for path in ("acknowledge", "cancel", "return"):
            assert (await client.post(f"/api/v1/consults/{cid}/{path}")).status_code == 404
        r = await client.post(f"/api/v1/consults/{cid}/messages", json={"body": "hi"})
        assert r.status_code == 404
    unknown = await gp.get("/api/v1/consults/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert (await gp.get("/api/v1/consults/not-a-uuid")).status_code == 404


async def test_staff_see_codes_and_times_but_no_clinical_text(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    cid = ok(await submit(gp), 201)["id"]
    detail = ok(await staff.get(f"/api/v1/consults/{cid}"))
    assert detail["state"] == "assigned" and detail["events"]
    text = str(detail)
    assert "Jane" not in text and "Pigmented" not in text and "9876" not in text
    assert "patient" not in detail and "question" not in detail
    listing = ok(await staff.get("/api/v1/consults"))["consults"]
    assert listing and "patient_name" not in listing[0]
    assert "Jane" not in str(listing)


async def test_lists_are_scoped(rota: None, personas: Personas, client_for: ClientFor) -> None:
    gp, other = await client_for(personas.gp), await client_for(personas.other_gp)
    derm, cardio = await client_for(personas.derm), await client_for(personas.cardio)
    cid = ok(await submit(gp), 201)["id"]
    assert [c["id"] for c in ok(await gp.get("/api/v1/consults"))["consults"]] == [cid]
    assert ok(await other.get("/api/v1/consults"))["consults"] == []
    assert [c["id"] for c in ok(await derm.get("/api/v1/consults"))["consults"]] == [cid]
    assert ok(await cardio.get("/api/v1/consults"))["consults"] == []
    assert ok(await gp.get("/api/v1/consults?state=closed"))["consults"] == []
    assert (await gp.get("/api/v1/consults?state=bogus")).status_code == 400


async def test_list_items_say_what_the_detail_says(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock
) -> None:
    """The list reads its columns its own way (stored text, flags computed in SQL): the
    summary must be the same as the one the detail builds from the ORM object, whole
    seconds (a zero fraction) and microseconds alike."""
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    ok(await submit(gp), 201)
    clock.advance(timedelta(seconds=1, microseconds=123456))
    ok(await submit(gp), 201)
    for client in (gp, derm):
        listing = ok(await client.get("/api/v1/consults"))["consults"]
        assert len(listing) == 2
        for item in listing:
            detail = ok(await client.get(f"/api/v1/consults/{item['id']}"))
            assert item["patient_name"] == "Jane Example"
            # What only list rows carry, checked against the detail too.
            assert item["gp_name"] == detail["gp"]["name"]
            assert item["photo_count"] == len(detail["images"])
            assert item["assignee_name"] == (detail["assignee"] or {}).get("name", "")
            assert detail["question"].startswith(item["question_preview"].rstrip("…"))
            assert item["follow_up"] is False and isinstance(item["patient_age"], int)
            list_only = {"patient_name", "gp_name", "photo_count", "question_preview",
                         "follow_up", "patient_age", "assignee_name"}
            summary = {k: v for k, v in item.items() if k not in list_only}
            assert summary == {k: detail[k] for k in summary}, item
        assert {item["submitted_at"][19:] for item in listing} == {"+00:00", ".123456+00:00"}


async def test_a_specialists_list_is_the_open_queue_by_due_time(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    """Closed consults pile up by the thousand: they must not crowd open ones out of
    the specialist's list (SQLite sorts NULL due times first), and come by state."""
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    ids = []
    for urgency in ("routine", "urgent", "routine", "routine"):
        ids.append(ok(await submit(gp, urgency=urgency), 201)["id"])
        clock.advance(timedelta(minutes=1))
    async with db.write() as session:
        await session.execute(text(
            "UPDATE consults SET state='closed', respond_due_at=NULL, ack_due_at=NULL "
            "WHERE id=:id"), {"id": ids[0]})
        await session.execute(text(
            "UPDATE consults SET state='awaiting_gp', respond_due_at=NULL WHERE id=:id"),
            {"id": ids[3]})
    listing = ok(await derm.get("/api/v1/consults"))["consults"]
    # The urgent one is due soonest; the paused one (no due time) comes last.
    assert [c["id"] for c in listing] == [ids[1], ids[2], ids[3]]
    closed = ok(await derm.get("/api/v1/consults?state=closed"))["consults"]
    assert [c["id"] for c in closed] == [ids[0]]


async def test_every_view_is_audited(rota: None, personas: Personas, client_for: ClientFor,
                                     db: Database) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    await gp.get(f"/api/v1/consults/{cid}")
    await gp.get(f"/api/v1/consults/{cid}")
    async with db.read() as session:
        views = (await session.execute(select(func.count()).select_from(AuditEvent).where(
            col(AuditEvent.action) == "consult.view", col(AuditEvent.object_id) == cid))).scalar()
    assert views == 2


async def _stored_state(db: Database, cid: str) -> str:
    async with db.read() as session:
        consult = await session.get(Consult, cid)
    assert consult is not None
    return consult.state


@pytest.mark.parametrize(
    ("setup", "who", "path", "body"),
    [
        ([], "derm", "messages", {"kind": "answer", "body": "x", "minutes": 5}),
        ([], "derm", "messages", {"kind": "clarification_request", "body": "x"}),
        ([], "gp", "close", {"outcome": "referral_avoided", "usefulness": 3}),
        (["ack"], "derm", "acknowledge", None),
        (["ack", "answer"], "gp", "cancel", None),
        (["ack", "answer"], "derm", "reroute", {"specialty": "cardiology", "reason": "x"}),
        (["cancel"], "gp", "messages", {"body": "hello?"}),
        (["cancel"], "derm", "acknowledge", None),
    ],
)
async def test_illegal_transitions_answer_409_and_change_nothing(
    rota: None, personas: Personas, client_for: ClientFor, db: Database,
    setup: list[str], who: str, path: str, body: dict[str, object] | None,
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    for step in setup:
        if step == "ack":
            ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
        elif step == "answer":
            ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                               json={"kind": "answer", "body": "a", "minutes": 5}), 201)
        elif step == "cancel":
            ok(await gp.post(f"/api/v1/consults/{cid}/cancel"))
    async with db.read() as session:
        before = (await session.execute(select(func.count()).select_from(ConsultEvent))).scalar()
    state_before = await _stored_state(db, cid)
    client = gp if who == "gp" else derm
    r = await client.post(f"/api/v1/consults/{cid}/{path}", json=body or {})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "illegal_transition"
    assert "consult" in r.json()["error"]["message"].lower()
    async with db.read() as session:
        after = (await session.execute(select(func.count()).select_from(ConsultEvent))).scalar()
    assert await _stored_state(db, cid) == state_before
    assert after == before


async def test_idempotency_key_creates_one_consult(rota: None, personas: Personas,
                                                   client_for: ClientFor, db: Database) -> None:
    gp = await client_for(personas.gp)
    headers = {"Idempotency-Key": "retry-me-0001"}
    first = ok(await submit(gp, headers=headers), 201)
    second = await submit(gp, headers=headers)
    assert second.status_code == 201 and second.json()["id"] == first["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    other = await client_for(personas.other_gp)  # keys are per GP
    assert ok(await submit(other, headers=headers), 201)["id"] != first["id"]
    async with db.read() as session:
        n = (await session.execute(select(func.count()).select_from(Consult))).scalar()
    assert n == 2


async def test_bad_forms_get_400_with_the_field_and_store_nothing(
    rota: None, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp = await client_for(personas.gp)
    cases: dict[str, ConsultForm] = {
        "specialty": {"specialty": "astrology"},
        "urgency": {"specialty": "cardiology", "urgency": "semi_urgent"},
        "question": {"question": "short"},
        "patient_dob": {"patient_dob": "04/05/1970"},
        "patient_health_number": {"patient_health_number": "!!"},
        "patient_name": {"patient_name": ""},
    }
    for field, override in cases.items():
        r = await submit(gp, **override)
        assert r.status_code == 400, (field, r.text)
        assert r.json()["error"]["field"] == field
    r = await gp.post("/api/v1/consults", json={"specialty": "dermatology"})
    assert r.status_code == 400
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Consult))).scalar() == 0


async def test_only_gps_submit(rota: None, personas: Personas, client_for: ClientFor) -> None:
    derm = await client_for(personas.derm)
    assert (await submit(derm)).status_code == 404


async def test_escalation_to_backup_then_pool(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock, app: Starlette,
    db: Database,
) -> None:
    svc = app_state(app)
    gp = await client_for(personas.gp)
    created = ok(await submit(gp, urgency="urgent"), 201)
    assert created["assigned_to"] == personas.derm.id
    clock.advance(timedelta(minutes=29))
    assert await process_due(svc) == 0
    clock.advance(timedelta(minutes=2))
    assert await process_due(svc) == 1
    gp = await client_for(personas.gp)
    detail = ok(await gp.get(f"/api/v1/consults/{created['id']}"))
    assert detail["assigned_to"] == personas.derm2.id and detail["state"] == "assigned"
    assert detail["events"][-1]["type"] == "escalated"
    derm_list = ok(await (await client_for(personas.derm)).get("/api/v1/consults"))["consults"]
    assert derm_list == []  # it left the first specialist's queue
    clock.advance(timedelta(minutes=31))
    await process_due(svc)
    gp = await client_for(personas.gp)
    detail = ok(await gp.get(f"/api/v1/consults/{created['id']}"))
    assert detail["state"] == "pooled" and detail["assigned_to"] is None
    assert [e["type"] for e in detail["events"]][-2:] == ["escalated", "pooled"]
    # pooled: both dermatologists see it, and either may claim it
    derm2 = await client_for(personas.derm2)
    assert [c["id"] for c in ok(await derm2.get("/api/v1/consults"))["consults"]] == [
        created["id"]]
    assert ok(await derm2.post(f"/api/v1/consults/{created['id']}/acknowledge")
              )["assigned_to"] == personas.derm2.id


async def test_nobody_on_call_goes_to_the_pool(personas: Personas,
                                               client_for: ClientFor) -> None:
    gp = await client_for(personas.gp)
    created = ok(await submit(gp), 201)
    assert created["state"] == "pooled" and created["assigned_to"] is None
    detail = ok(await gp.get(f"/api/v1/consults/{created['id']}"))
    assert detail["events"][1]["type"] == "pooled"
    assert "nobody on call" in detail["events"][1]["reason"]
    derm = await client_for(personas.derm)
    assert len(ok(await derm.get("/api/v1/consults"))["consults"]) == 1
    cardio = await client_for(personas.cardio)
    assert (await cardio.get(f"/api/v1/consults/{created['id']}")).status_code == 404


async def test_reroute_runs_routing_again(rota: None, personas: Personas, client_for: ClientFor,
                                          db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.cardio, "cardiology", clock.now())
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    r = ok(await derm.post(f"/api/v1/consults/{cid}/reroute",
                           json={"specialty": "cardiology", "reason": "Palpitations, not skin"}))
    assert r["specialty"] == "cardiology" and r["assigned_to"] == personas.cardio.id
    assert (await derm.get(f"/api/v1/consults/{cid}")).status_code == 404
    cardio = await client_for(personas.cardio)
    detail = ok(await cardio.get(f"/api/v1/consults/{cid}"))
    assert detail["events"][-1]["type"] == "rerouted"
    assert detail["messages"][-1]["body"] == "Palpitations, not skin"
    bad = await cardio.post(f"/api/v1/consults/{cid}/reroute",
                            json={"specialty": "cardiology", "reason": "x"})
    assert bad.status_code == 409


async def test_return_to_pool_and_cancel(rota: None, personas: Personas,
                                         client_for: ClientFor) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    assert ok(await derm.post(f"/api/v1/consults/{cid}/return"))["state"] == "pooled"
    assert ok(await gp.post(f"/api/v1/consults/{cid}/cancel"))["state"] == "cancelled"


async def test_convert_to_urgent_callback_and_referral(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    r = ok(await gp.post(f"/api/v1/consults/{cid}/convert", json={"to": "urgent_callback"}))
    assert r["urgency"] == "urgent" and r["converted_to"] == "urgent_callback"
    assert (await gp.post(f"/api/v1/consults/{cid}/convert",
                          json={"to": "urgent_callback"})).status_code == 409
    r = ok(await gp.post(f"/api/v1/consults/{cid}/convert",
                         json={"to": "referral", "reason": "Needs excision in clinic."}))
    assert r["converted_to"] == "referral"
    assert (await gp.post(f"/api/v1/consults/{cid}/convert",
                          json={"to": "teleport"})).status_code == 400


async def test_survey_is_validated(rota: None, personas: Personas,
                                   client_for: ClientFor) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    await derm.post(f"/api/v1/consults/{cid}/acknowledge")
    await derm.post(f"/api/v1/consults/{cid}/messages",
                    json={"kind": "answer", "body": "a", "minutes": 5})
    for body in ({"outcome": "great", "usefulness": 3}, {"outcome": "other", "usefulness": 9},
                 {"outcome": "other", "usefulness": "x"}, {"outcome": "other"}):
        r = await gp.post(f"/api/v1/consults/{cid}/close", json=body)
        assert r.status_code == 400, body
    r = ok(await gp.post(f"/api/v1/consults/{cid}/close",
                         json={"outcome": "other", "usefulness": 2, "comment": "Thanks"}))
    assert r["state"] == "closed"
    assert ok(await gp.get(f"/api/v1/consults/{cid}"))["close_comment"] == "Thanks"


async def test_follow_up_after_answer_returns_to_review(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    await derm.post(f"/api/v1/consults/{cid}/acknowledge")
    await derm.post(f"/api/v1/consults/{cid}/messages",
                    json={"kind": "answer", "body": "a", "minutes": 5})
    r = ok(await gp.post(f"/api/v1/consults/{cid}/messages", json={"body": "And if it grows?"}),
           201)
    assert r["consult"]["state"] == "in_review"
    assert ok(await gp.get(f"/api/v1/consults/{cid}"))["events"][-1]["type"] == "follow_up"


async def test_patient_data_is_encrypted_at_rest(rota: None, personas: Personas,
                                                 client_for: ClientFor, settings: Settings,
                                                 db: Database) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    await gp.post(f"/api/v1/consults/{cid}/messages", json={"body": "Secret-ish follow-up"})
    # ("Pigmented lesion on": a dermatology checklist is titled "Pigmented lesion / ...")
    secrets = (b"Jane Example", b"9876 543 210", b"Pigmented lesion on", b"Secret-ish",
               b"1970-05-04", b"left shoulder")
    async with db.read() as session:
        row = (await session.execute(text(
            "SELECT patient_name, patient_dob, patient_health_number, question, "
            "clinical_details FROM consults"))).one()
        bodies = (await session.execute(text("SELECT body FROM messages"))).scalars().all()
    stored = b"".join(bytes(v) for v in (*row, *bodies))
    assert all(secret not in stored for secret in secrets)
    if settings.is_sqlite:  # and nowhere in the database files either
        raw = (settings.data_dir / "econsult.db").read_bytes()
        wal = settings.data_dir / "econsult.db-wal"
        raw += wal.read_bytes() if wal.exists() else b""
        assert [s for s in secrets if s in raw] == []


async def test_stored_events_replay_exactly_what_was_published(
    rota: None, personas: Personas, client_for: ClientFor, app: Starlette, db: Database
) -> None:
    """A reconnecting client or another process rebuilds events from the table: they
    must equal the ones published live, audience included."""
    from econsult.realtime.events import STAFF_GROUP, user_group
    from econsult.realtime.replay import events_after

    bus = app_state(app).bus
    async with bus.subscribe([STAFF_GROUP]) as live:
        gp = await client_for(personas.gp)
        ok(await submit(gp), 201)
        published = [await live.__anext__(), await live.__anext__()]
    async with db.read() as session:
        replayed, _ = await events_after(session, 0, frozenset({STAFF_GROUP}))
    assert [e.to_record() for e in replayed] == [e.to_record() for e in published]
    assert user_group(personas.derm.id or 0) in replayed[-1].groups
    async with db.read() as session:
        assert (await events_after(session, 0, frozenset({user_group(
            personas.other_gp.id or 0)})))[0] == []
