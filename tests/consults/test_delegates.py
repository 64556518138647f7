"""Delegates through the JSON API: clinic staff submit and reply for their GP, the GP
stays the responsible clinician and sees who did it, and nobody else's delegate can
reach the consult (404, like an unknown id)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.accounts import delegates
from econsult.accounts.login import session_policy
from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import AuditEvent, Consult, ConsultEvent, DelegateLink, Role, User
from econsult.security import sessions
from econsult.security.audit import Actor
from econsult.security.policy import Principal
from tests.conftest import ClientFor
from tests.factories import Personas, make_delegate, ok, put_on_call, session_for, submit
from tests.images.image_factories import encode, skin_texture


@dataclass
class Clinic:
    delegate: User  # works for personas.gp
    other_delegate: User  # works for personas.other_gp
    me: httpx.AsyncClient  # the delegate's client


@pytest.fixture
async def clinic(db: Database, clock: ManualClock, personas: Personas,
                 client_for: ClientFor) -> Clinic:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    delegate = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                                   gps=(personas.gp,))
    other = await make_delegate(db, clock, email="olly@clinic.example", name="Olly Other",
                                gps=(personas.other_gp,))
    return Clinic(delegate, other, await client_for(delegate))


async def consult_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(Consult))).scalar_one())


PHOTO = [("images", ("lesion.jpg", encode(skin_texture(800, 600), "JPEG", quality=90),
                     "image/jpeg"))]


async def test_a_delegate_submits_for_their_gp_who_sees_it_as_theirs(
    clinic: Clinic, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    created = ok(await submit(clinic.me, files=PHOTO, gp=personas.gp.email.upper(),
                              image_labels="overview"), 201)
    cid, image_id = created["id"], created["images"][0]["id"]
    async with db.read() as session:
        row = await session.get(Consult, cid)
        assert row is not None
        assert (row.gp_id, row.submitted_by) == (personas.gp.id, clinic.delegate.id)
        submitted = (await session.execute(select(ConsultEvent).where(
            col(ConsultEvent.consult_id) == cid, col(ConsultEvent.type) == "submitted")
        )).scalar_one()
        audit_row = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "consult.submit",
            col(AuditEvent.object_id) == cid))).scalar_one()
    # The event and the audit entry name the delegate as author, and the GP it is for.
    assert submitted.actor_id == clinic.delegate.id
    assert audit_row.actor_id == clinic.delegate.id
    assert audit_row.actor_email == clinic.delegate.email
    assert f"on_behalf_of={personas.gp.id}" in audit_row.detail

    gp = await client_for(personas.gp)
    listed = ok(await gp.get("/api/v1/consults"))["consults"]
    assert [(c["id"], c["gp_id"], c["submitted_by"]) for c in listed] == [
        (cid, personas.gp.id, clinic.delegate.id)]
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert detail["gp"] == {"id": personas.gp.id, "name": personas.gp.name}
    assert detail["sent_by"] == {"id": clinic.delegate.id, "name": "Dee Lewis"}
    assert (detail["gp_id"], detail["submitted_by"]) == (personas.gp.id, clinic.delegate.id)
    assert detail["side"] == "requester"
    assert {"gp_message", "cancel", "convert_referral"} <= set(detail["actions"])
    assert detail["events"][0]["actor_name"] == "Dee Lewis"
    assert (await gp.get(f"/api/v1/images/{image_id}/thumbnail")).status_code == 200

    mine = ok(await clinic.me.get("/api/v1/consults"))["consults"]
    assert [c["id"] for c in mine] == [cid] and mine[0]["patient_name"] == "Jane Example"
    seen = ok(await clinic.me.get(f"/api/v1/consults/{cid}"))
    assert seen["side"] == "requester" and seen["question"].startswith("Pigmented")
    assert not {"close", "cancel", "convert_referral", "convert_urgent_callback"} & set(
        seen["actions"])
    assert (await clinic.me.get(f"/api/v1/images/{image_id}")).status_code == 200


async def test_another_gps_delegate_gets_404_everywhere(
    clinic: Clinic, personas: Personas, client_for: ClientFor
) -> None:
    created = ok(await submit(clinic.me, files=PHOTO, gp=personas.gp.email,
                              image_labels="overview"), 201)
    cid, image_id = created["id"], created["images"][0]["id"]
    olly = await client_for(clinic.other_delegate)
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/v1/consults/{cid}", f"/api/v1/images/{image_id}",
                 f"/api/v1/images/{image_id}/thumbnail", f"/consults/{cid}"):
        foreign = await olly.get(path)
        assert foreign.status_code == 404, path
        assert cid not in foreign.text and "Jane" not in foreign.text
    ghost = await olly.get(f"/api/v1/consults/{unknown}")
    assert ghost.json() == (await olly.get(f"/api/v1/consults/{cid}")).json()
    reply = await olly.post(f"/api/v1/consults/{cid}/messages",
                            json={"body": "Let me in", "kind": "message"})
    assert reply.status_code == 404
    assert ok(await olly.get("/api/v1/consults"))["consults"] == []
    # ... nor can they send it for a GP they do not work for.
    refused = await submit(olly, gp=personas.gp.email)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "gp"


@pytest.mark.parametrize("who", ["missing", "other gp", "specialist", "unknown", "disabled gp"])
async def test_a_delegate_must_name_one_of_their_gps(
    who: str, clinic: Clinic, personas: Personas, db: Database, clock: ManualClock
) -> None:
    gp = {"missing": "", "other gp": personas.other_gp.email, "specialist": personas.derm.email,
          "unknown": "nobody@example.org", "disabled gp": "off@example.org"}[who]
    if who == "disabled gp":
        async with db.write() as session:
            gp_row = User(email="off@example.org", name="Dr Off", role=Role.gp, password_hash="-",
                          active=False, created_at=clock.now())
            session.add(gp_row)
        await delegates.set_links(db, delegate_id=clinic.delegate.id or 0,
                                  gp_ids=[personas.gp.id or 0, gp_row.id or 0],
                                  actor=Actor(None, "test"), clock=clock,
                                  by=Principal(personas.admin.id or 0, Role.admin))
    refused = await submit(clinic.me, gp=gp)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["field"] == "gp"
    # One message for every GP not theirs: the field cannot tell who has an account.
    assert error["message"] == ("Choose the GP this consult is for." if who == "missing"
                                else "Choose one of the GPs you work for.")
    assert await consult_count(db) == 0


async def test_a_gp_submits_only_as_themselves(
    clinic: Clinic, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp = await client_for(personas.gp)
    refused = await submit(gp, gp=personas.other_gp.email)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "gp"
    own = ok(await submit(gp, gp=personas.gp.email), 201)
    async with db.read() as session:
        row = await session.get(Consult, own["id"])
    assert row is not None and (row.gp_id, row.submitted_by) == (personas.gp.id, personas.gp.id)
    assert ok(await gp.get(f"/api/v1/consults/{own['id']}"))["sent_by"] is None


async def test_a_delegate_answers_a_clarification_but_never_closes_converts_or_cancels(
    clinic: Clinic, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    cid = ok(await submit(clinic.me, gp=personas.gp.email), 201)["id"]
    derm = await client_for(personas.derm)
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages", json={
        "body": "How long has it been itchy?", "kind": "clarification_request"}), 201)
    reply = ok(await clinic.me.post(f"/api/v1/consults/{cid}/messages", json={
        "body": "Dr Parker says: two weeks.", "kind": "message"}), 201)
    assert reply["consult"]["state"] == "in_review"  # the clarification is answered
    for kind in ("answer", "clarification_request"):
        r = await clinic.me.post(f"/api/v1/consults/{cid}/messages",
                                 json={"body": "x" * 20, "kind": kind, "minutes": 5})
        assert r.status_code == 404, kind
    ok(await derm.post(f"/api/v1/consults/{cid}/messages", json={
        "body": "Benign; no referral.", "kind": "answer", "minutes": 10}), 201)
    for step, body in (("close", {"outcome": "referral_avoided", "usefulness": 5}),
                       ("convert", {"to": "referral"}), ("cancel", {})):
        r = await clinic.me.post(f"/api/v1/consults/{cid}/{step}", json=body)
        assert r.status_code == 404, step
    gp = await client_for(personas.gp)
    thread = ok(await gp.get(f"/api/v1/consults/{cid}"))
    relayed = [m for m in thread["messages"] if m["author"] == clinic.delegate.id]
    assert [m["author_name"] for m in relayed] == ["Dee Lewis"]
    replied = [e for e in thread["events"] if e["type"] == "gp_replied"]
    assert [e["actor"] for e in replied] == [clinic.delegate.id]
    assert thread["state"] == "answered"
    ok(await gp.post(f"/api/v1/consults/{cid}/close",
                     json={"outcome": "referral_avoided", "usefulness": 5}))


async def test_unlinking_takes_access_away_at_the_next_request(
    clinic: Clinic, personas: Personas, db: Database, clock: ManualClock
) -> None:
    cid = ok(await submit(clinic.me, gp=personas.gp.email), 201)["id"]
    ok(await clinic.me.get(f"/api/v1/consults/{cid}"))
    await delegates.set_links(db, delegate_id=clinic.delegate.id or 0, gp_ids=[],
                              actor=Actor(personas.admin.id, personas.admin.email),
                              clock=clock, by=Principal(personas.admin.id or 0, Role.admin))
    assert (await clinic.me.get(f"/api/v1/consults/{cid}")).status_code == 404
    assert ok(await clinic.me.get("/api/v1/consults"))["consults"] == []


async def test_the_session_loads_a_delegates_gps_and_nobody_elses(
    app: Starlette, personas: Personas, db: Database, clock: ManualClock
) -> None:
    ctx = app_state(app)
    both = await make_delegate(db, clock, email="both@clinic.example", name="Bo Th",
                               gps=(personas.gp, personas.other_gp))
    # A link left on someone who is not a delegate (say, their role was changed) is inert.
    async with db.write() as session:
        session.add(DelegateLink(delegate_id=personas.derm.id or 0, gp_id=personas.gp.id or 0,
                                 created_at=clock.now()))
    for user, acts_for in ((both, {personas.gp.id, personas.other_gp.id}),
                           (personas.derm, set())):
        token, _ = await session_for(db, user, clock, ctx.settings)
        auth = await sessions.resolve(db, token, now=clock.now(),
                                      policy=session_policy(ctx.settings))
        assert auth is not None and auth.principal.acts_for == acts_for
    assert auth is not None and auth.principal.specialties == {"dermatology"}
    gps = await delegates.gps_of(db, Principal(both.id or 0, Role.delegate,
                                               acts_for=frozenset({personas.gp.id or 0})))
    assert [g.email for g in gps] == [personas.gp.email]
