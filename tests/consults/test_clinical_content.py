"""Clinical content through the API: checklists stored and versioned, answers
validated item by item, a structured signed answer, the minutes cap, answer templates,
the usual specialist, and the conversion to a referral that keeps its date."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text, update
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import User
from tests.conftest import ClientFor
from tests.factories import Personas, ok, put_on_call, submit

PALPITATIONS = {"episode_frequency": "weekly", "syncope": "no", "tsh": "2.1",
                "ecg_attached": "true", "episode_duration": "Minutes, abrupt onset"}


async def cardiology(client: httpx.AsyncClient, answers: dict[str, Any] | None = None,
                     **changes: str | None) -> httpx.Response:
    fields: dict[str, str | None] = {
        "specialty": "cardiology", "body_site": None, "reason": "palpitations",
        "checklist": json.dumps(PALPITATIONS if answers is None else answers),
        "question": "Palpitations for two months, weekly. Holter first or refer?",
        "patient_sex": "female", "medications": "Salbutamol PRN",
        "allergies": "Penicillin (rash)"}
    fields.update(changes)
    return await submit(client, **fields)  # type: ignore[arg-type]


async def sign_as(db: Database, user: User, credentials: str = "MD, FRCPC",
                  registration: str = "CPSBC 12345") -> None:
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == user.id).values(
            credentials=credentials, registration=registration))


# --- checklists -------------------------------------------------------------------------

async def test_checklists_are_served_per_specialty_from_the_database(
        personas: Personas, client_for: ClientFor, anon: httpx.AsyncClient) -> None:
    gp = await client_for(personas.gp)
    found = ok(await gp.get("/api/v1/specialties/cardiology/checklists"))
    palp = next(c for c in found if c["reason"] == "palpitations")
    assert palp["version"] == 1 and palp["title"] == "Palpitations"
    assert set(palp["schema"]["required"]) == {"episode_frequency", "syncope"}
    assert palp["schema"]["properties"]["tsh"]["x-recommended"] is True
    assert (await gp.get("/api/v1/specialties/astrology/checklists")).status_code == 404
    assert (await anon.get("/api/v1/specialties/cardiology/checklists")).status_code == 401


async def test_a_required_item_left_out_is_refused_naming_the_item(
        personas: Personas, client_for: ClientFor, db: Database) -> None:
    gp = await client_for(personas.gp)
    r = await cardiology(gp, {"episode_frequency": "weekly", "tsh": "2"})
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "checklist.syncope"
    assert "Syncope" in r.json()["error"]["message"]
    bad = await cardiology(gp, {**PALPITATIONS, "tsh": "lots"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "checklist.tsh")
    unknown = await cardiology(gp, {**PALPITATIONS, "horoscope": "yes"})
    assert unknown.json()["error"]["field"] == "checklist.horoscope"
    wrong_reason = await cardiology(gp, reason="sunburn")
    assert wrong_reason.json()["error"]["field"] == "reason"
    not_json = await cardiology(gp, checklist="[1, 2]")
    assert not_json.json()["error"]["field"] == "checklist"
    sex = await cardiology(gp, patient_sex="robot")
    assert sex.json()["error"]["field"] == "patient_sex"
    async with db.read() as session:  # nothing half-written
        assert (await session.execute(text("SELECT count(*) FROM consults"))).scalar() == 0


async def test_answers_are_sealed_and_shown_as_a_summary(
        personas: Personas, client_for: ClientFor, db: Database, settings: Settings) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await cardiology(gp), 201)["id"]
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert detail["reason"] == "palpitations"
    assert (detail["patient_sex"], detail["medications"], detail["allergies"]) == (
        "female", "Salbutamol PRN", "Penicillin (rash)")
    checklist = detail["checklist"]
    assert (checklist["title"], checklist["version"]) == ("Palpitations", 1)
    lines = {i["name"]: i["text"] for i in checklist["items"]}
    assert lines["episode_frequency"] == "How often episodes occur: Weekly"
    assert lines["tsh"] == "Recent TSH: 2.1 mIU/L"
    assert lines["syncope"] == "Syncope or near-syncope with episodes: No"
    assert lines["hemoglobin"] == "Not provided: Hemoglobin (CBC) (recommended)"
    assert "Hemoglobin (CBC)" in checklist["missing_recommended"]
    async with db.read() as session:
        row = (await session.execute(text(
            "SELECT checklist_answers, patient_sex, medications, allergies, checklist_version "
            "FROM consults"))).one()
    assert row[4] == 1
    stored = b"".join(bytes(v) for v in row[:4])
    for secret in (b"Salbutamol", b"Penicillin", b"weekly", b"female"):
        assert secret not in stored


async def test_an_old_consult_renders_with_its_version_after_the_checklist_changes(
        personas: Personas, client_for: ClientFor) -> None:
    gp, staff = await client_for(personas.gp), await client_for(personas.staff)
    old = ok(await cardiology(gp), 201)["id"]
    schema = next(c for c in ok(await gp.get("/api/v1/specialties/cardiology/checklists"))
                  if c["reason"] == "palpitations")["schema"]
    schema["properties"]["tsh"]["title"] = "TSH within 3 months"
    schema["required"] = [*schema["required"], "tsh"]
    schema["properties"]["tsh"].pop("x-recommended")
    saved = ok(await staff.put("/api/v1/specialties/cardiology/checklists/palpitations",
                               json={"schema": schema}))
    assert saved["version"] == 2
    assert saved["schema"]["$id"].endswith(":v2")
    # The new version applies to new consults: TSH is now required...
    no_tsh = {k: v for k, v in PALPITATIONS.items() if k != "tsh"}
    r = await cardiology(gp, no_tsh)
    assert r.json()["error"]["field"] == "checklist.tsh"
    new = ok(await cardiology(gp), 201)["id"]
    new_lines = {i["name"]: i["text"] for i in
                 ok(await gp.get(f"/api/v1/consults/{new}"))["checklist"]["items"]}
    assert new_lines["tsh"] == "TSH within 3 months: 2.1 mIU/L"
    # ...and the old consult still reads as version 1 did.
    old_detail = ok(await gp.get(f"/api/v1/consults/{old}"))
    assert old_detail["checklist"]["version"] == 1
    assert {i["name"]: i["text"] for i in old_detail["checklist"]["items"]}["tsh"] == (
        "Recent TSH: 2.1 mIU/L")
    versions = ok(await staff.get(
        "/api/v1/specialties/cardiology/checklists/palpitations/versions"))
    assert [v["version"] for v in versions] == [2, 1]


async def test_staff_add_reasons_and_bad_schemas_are_refused(
        personas: Personas, client_for: ClientFor) -> None:
    staff = await client_for(personas.staff)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Syncope",
              "version": 7, "type": "object", "additionalProperties": False,
              "properties": {"witnessed": {"type": "boolean", "title": "Witnessed"}},
              "required": ["witnessed"]}
    first = ok(await staff.put("/api/v1/specialties/cardiology/checklists/syncope",
                               json={"schema": schema}))
    assert first["version"] == 1  # numbered by the store, not the editor
    nested = {**schema, "properties": {"x": {"type": "object", "title": "X"}}}
    r = await staff.put("/api/v1/specialties/cardiology/checklists/syncope",
                        json={"schema": nested})
    assert r.status_code == 400 and "nested" in r.json()["error"]["message"]
    r = await staff.put("/api/v1/specialties/cardiology/checklists/Bad_Reason",
                        json={"schema": schema})
    assert r.json()["error"]["field"] == "reason"


async def test_only_staff_edit_checklists(personas: Personas, client_for: ClientFor) -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Mine",
              "version": 1, "type": "object", "additionalProperties": False,
              "properties": {"x": {"type": "boolean", "title": "X"}}}
    for who in (personas.gp, personas.cardio, personas.admin):
        client = await client_for(who)
        r = await client.put("/api/v1/specialties/cardiology/checklists/palpitations",
                             json={"schema": schema})
        assert r.status_code == 404, who.email
        assert (await client.get(
            "/api/v1/specialties/cardiology/checklists/palpitations/versions")).status_code == 404
        page = await client.get("/checklists")
        assert page.status_code == 404, who.email
    gp = await client_for(personas.gp)
    current = ok(await gp.get("/api/v1/specialties/cardiology/checklists"))
    assert next(c for c in current if c["reason"] == "palpitations")["version"] == 1
    staff = await client_for(personas.staff)
    page = await staff.get("/checklists")
    assert page.status_code == 200 and 'id="cl-schema"' in page.text


# --- structured answers ------------------------------------------------------------------

async def _acknowledged(db: Database, personas: Personas, client_for: ClientFor,
                        clock: ManualClock) -> tuple[httpx.AsyncClient, httpx.AsyncClient, str]:
    await put_on_call(db, personas.cardio, "cardiology", clock.now())
    gp, cardio = await client_for(personas.gp), await client_for(personas.cardio)
    cid = ok(await cardiology(gp), 201)["id"]
    ok(await cardio.post(f"/api/v1/consults/{cid}/acknowledge"))
    return gp, cardio, cid


ANSWER = {"kind": "answer", "body": "Likely benign ectopy.", "minutes": 15,
          "impression": "Symptomatic ectopy; no red flags.",
          "plan": "14-day patch monitor; reduce caffeine.",
          "refer_if": "Syncope, exertional symptoms, or sustained palpitations.",
          "follow_up": "Review the monitor result in 4 weeks.", "referral_advised": False}


async def test_a_structured_answer_round_trips_with_its_signatory(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    unsigned = await cardio.post(f"/api/v1/consults/{cid}/messages", json=ANSWER)
    assert unsigned.status_code == 400
    assert unsigned.json()["error"]["code"] == "signatory_incomplete"
    await sign_as(db, personas.cardio)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages", json=ANSWER), 201)
    await sign_as(db, personas.cardio, registration="CHANGED 1")  # after signing
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    answer = detail["messages"][-1]
    assert answer["kind"] == "answer" and answer["body"] == "Likely benign ectopy."
    for key in ("impression", "plan", "refer_if", "follow_up"):
        assert answer[key] == ANSWER[key]
    assert answer["referral_advised"] is False
    assert answer["signatory"] == {"name": "Dr Carla Dio", "credentials": "MD, FRCPC",
                                   "registration": "CPSBC 12345"}
    async with db.read() as session:
        stored = (await session.execute(text(
            "SELECT impression, plan, refer_if, follow_up FROM structured_answers"))).one()
    assert all(b"ectopy" not in bytes(v) and b"caffeine" not in bytes(v) for v in stored)
    page = await gp.get(f"/consults/{cid}")
    assert "answer-letter" in page.text and "Registration CPSBC 12345" in page.text
    assert "Dr Carla Dio, MD, FRCPC" in page.text


async def test_minutes_above_the_cap_are_refused(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    plain = {"kind": "answer", "body": "Holter first."}
    for minutes in (61, 0, 600):
        r = await cardio.post(f"/api/v1/consults/{cid}/messages",
                              json={**plain, "minutes": minutes})
        assert (r.status_code, r.json()["error"]["field"]) == (400, "minutes"), minutes
    assert ok(await gp.get(f"/api/v1/consults/{cid}"))["state"] == "in_review"
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages", json={**plain, "minutes": 60}),
       201)
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert detail["minutes_spent"] == 60
    # A plain answer is signed by its specialist too, and says nothing about a referral.
    plain_answer = detail["messages"][-1]
    assert plain_answer["signatory"]["name"] == "Dr Carla Dio"
    assert plain_answer["referral_advised"] is None and plain_answer["impression"] == ""


async def test_the_cap_is_a_setting(settings: Settings) -> None:
    assert settings.max_answer_minutes == 60
    assert Settings.from_env({"ECONSULT_MAX_ANSWER_MINUTES": "90"}).max_answer_minutes == 90


async def test_only_answers_carry_structured_parts(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    r = await cardio.post(f"/api/v1/consults/{cid}/messages",
                          json={"kind": "message", "body": "Hi", "impression": "x"})
    assert r.status_code == 400
    r = await gp.post(f"/api/v1/consults/{cid}/messages",
                      json={"kind": "answer", "body": "I answer myself", "minutes": 5})
    assert r.status_code == 404  # the policy: a GP never answers
    assert ok(await gp.get(f"/api/v1/consults/{cid}"))["state"] == "in_review"


# --- answer templates ----------------------------------------------------------------

async def test_answer_templates_are_their_owners_alone(
        personas: Personas, client_for: ClientFor) -> None:
    derm, derm2 = await client_for(personas.derm), await client_for(personas.derm2)
    made = ok(await derm.post("/api/v1/answer-templates", json={
        "title": "Benign naevus", "impression": "Benign naevus.", "plan": "Reassure."}), 201)
    assert ok(await derm.get("/api/v1/answer-templates"))["templates"][0]["plan"] == "Reassure."
    assert ok(await derm2.get("/api/v1/answer-templates"))["templates"] == []
    path = f"/api/v1/answer-templates/{made['id']}"
    assert (await derm2.put(path, json={"title": "Mine now", "body": "x"})).status_code == 404
    assert (await derm2.delete(path)).status_code == 404
    gp = await client_for(personas.gp)
    assert (await gp.get("/api/v1/answer-templates")).status_code == 404
    changed = ok(await derm.put(path, json={"title": "Naevus", "body": "Benign."}))
    assert (changed["title"], changed["plan"]) == ("Naevus", "")
    assert (await derm.post("/api/v1/answer-templates", json={"title": "Empty"})).status_code \
        == 400
    assert (await derm.delete(path)).status_code == 204
    assert ok(await derm.get("/api/v1/answer-templates"))["templates"] == []


# --- continuity -----------------------------------------------------------------------

async def test_the_usual_specialist_gets_it_when_on_call_and_is_remembered(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    await put_on_call(db, personas.derm2, "dermatology", clock.now())
    gp = await client_for(personas.gp)
    # derm carries more: plain routing would pick derm2.
    ok(await submit(gp), 201)
    first = ok(await submit(gp, specialist=personas.derm.email), 201)
    assert first["assigned_to"] == personas.derm.id
    detail = ok(await gp.get(f"/api/v1/consults/{first['id']}"))
    routed = next(e for e in detail["events"] if e["type"] == "assigned")
    assert routed["named"] == "chosen" and routed["reason"].startswith("named specialist")
    assert detail["requested_specialist"]["id"] == personas.derm.id
    choice = ok(await gp.get("/api/v1/specialties/dermatology/specialists"))
    assert choice["usual"] == personas.derm.email
    assert {s["email"] for s in choice["specialists"]} == {personas.derm.email,
                                                           personas.derm2.email}
    other = ok(await (await client_for(personas.other_gp)).get(
        "/api/v1/specialties/dermatology/specialists"))
    assert other["usual"] is None  # per GP


async def test_a_named_specialist_off_call_is_passed_over_and_the_event_says_why(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    gp = await client_for(personas.gp)
    sent = ok(await submit(gp, specialist=personas.derm2.email), 201)
    assert sent["assigned_to"] == personas.derm.id
    routed = next(e for e in ok(await gp.get(f"/api/v1/consults/{sent['id']}"))["events"]
                  if e["type"] == "assigned")
    assert routed["named"] == "not_on_call"
    assert routed["reason"].startswith("named specialist is not on call;")
    wrong = await submit(gp, specialist=personas.cardio.email)  # not of dermatology
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (400, "specialist")


# --- referral ------------------------------------------------------------------------

async def test_converting_to_a_referral_keeps_the_request_date_and_who_decided(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock,
        app: Any) -> None:
    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    submitted_at = ok(await gp.get(f"/api/v1/consults/{cid}"))["submitted_at"]
    await sign_as(db, personas.cardio)
    clock.advance(timedelta(days=3))
    gp, cardio = await client_for(personas.gp), await client_for(personas.cardio)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages",
                         json={**ANSWER, "referral_advised": True}), 201)
    assert (await gp.post(f"/api/v1/consults/{cid}/convert",
                          json={"to": "referral"})).json()["error"]["field"] == "reason"
    clock.advance(timedelta(days=2))
    gp = await client_for(personas.gp)
    ok(await gp.post(f"/api/v1/consults/{cid}/convert",
                     json={"to": "referral", "reason": "Exertional symptoms since."}))
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    ref = detail["referral"]
    assert ref["referral_date"] == submitted_at  # the patient keeps their place
    assert ref["converted_at"] != submitted_at
    assert (ref["decided_by"], ref["decided_by_id"], ref["advised_by_id"]) == (
        "specialist_advice", personas.gp.id, personas.cardio.id)
    assert ref["reason"] == "Exertional symptoms since."
    converted = next(e for e in detail["events"] if e["type"] == "converted")
    assert converted["decided_by"] == "specialist_advice"

    from econsult.http.state import app_state
    from econsult.interop.record import load_one
    from econsult.interop.referral_summary import load_content, referral_summary
    from econsult.security.policy import Principal

    deps = app_state(app)
    who = Principal(personas.gp.id or 0, personas.gp.role, email=personas.gp.email)
    rec = await load_one(deps, who, cid)
    summary = referral_summary(rec, await load_content(deps, rec))
    assert summary is not None
    assert summary.referral_date.isoformat() == submitted_at
    assert summary.decided_by.startswith("The specialist's recommendation")
    assert summary.medications == "Salbutamol PRN" and summary.allergies == "Penicillin (rash)"
    assert summary.plan == ANSWER["plan"] and summary.reason_for_referral == "Palpitations"
    assert "Recent TSH: 2.1 mIU/L" in summary.workup


async def test_the_gps_own_choice_and_advice_that_was_never_given(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    r = await gp.post(f"/api/v1/consults/{cid}/convert",
                      json={"to": "referral", "reason": "Patient asks", "on_advice": True})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "no_referral_advice")
    ok(await gp.post(f"/api/v1/consults/{cid}/convert",
                     json={"to": "referral", "reason": "Patient prefers clinic."}))
    ref = ok(await gp.get(f"/api/v1/consults/{cid}"))["referral"]
    assert (ref["decided_by"], ref["advised_by_id"]) == ("gp_choice", None)
    # The specialist cannot convert it (the GP decides); another GP cannot even see it.
    other = await client_for(personas.other_gp)
    assert (await other.post(f"/api/v1/consults/{cid}/convert", json={
        "to": "referral", "reason": "x"})).status_code == 404


async def test_the_letter_carries_the_workup_the_signed_answer_and_the_referral_summary(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    from tests.interop.pdf_text import pdf_pages

    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    await sign_as(db, personas.cardio)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages",
                         json={**ANSWER, "referral_advised": True}), 201)
    ok(await gp.post(f"/api/v1/consults/{cid}/convert",
                     json={"to": "referral", "reason": "Advised by cardiology."}))
    response = await gp.get(f"/api/v1/consults/{cid}/letter.pdf")
    assert response.status_code == 200, response.text
    letter = " ".join(" ".join(pdf_pages(response.content)).split())
    assert "Workup: Palpitations (checklist version 1)" in letter
    assert "Recent TSH: 2.1 mIU/L" in letter and "Penicillin (rash)" in letter
    assert "14-day patch monitor; reduce caffeine." in letter
    assert "Dr Carla Dio, MD, FRCPC · registration CPSBC 12345" in letter
    assert "Referral summary" in letter and "Advised by cardiology." in letter
    assert "The specialist's recommendation, accepted by the GP" in letter


async def test_key_rotation_reseals_the_clinical_content(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock,
        app: Any, settings: Settings) -> None:
    from econsult.http.state import app_state
    from econsult.ops import rekey
    from econsult.security.fields import FieldCipher
    from econsult.security.keyring import Kek, Keyring, new_key

    gp, cardio, cid = await _acknowledged(db, personas, client_for, clock)
    await sign_as(db, personas.cardio)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages",
                         json={**ANSWER, "referral_advised": True}), 201)
    ok(await gp.post(f"/api/v1/consults/{cid}/convert",
                     json={"to": "referral", "reason": "As advised."}))
    ok(await cardio.post("/api/v1/answer-templates", json={"title": "T", "plan": "P"}), 201)
    old: Keyring = app_state(app).keyring
    rotated = Keyring(Kek.from_bytes(new_key()), [old.active])
    await rekey.rekey_fields(db, rotated, settings)
    assert await rekey.count_fields(db, old.active_id, settings) == 0
    cipher = FieldCipher(Keyring(rotated.active))  # the old KEK is gone
    async with db.read() as session:
        plan, message_id = (await session.execute(text(
            "SELECT plan, message_id FROM structured_answers"))).one()
        reason = (await session.execute(text("SELECT reason FROM referrals"))).scalar_one()
        sex = (await session.execute(text("SELECT patient_sex FROM consults"))).scalar_one()
    assert cipher.open("structured_answers", "plan", message_id, bytes(plan)) == ANSWER["plan"]
    assert cipher.open("referrals", "reason", cid, bytes(reason)) == "As advised."
    assert cipher.open("consults", "patient_sex", cid, bytes(sex)) == "female"


async def test_a_delegate_names_the_specialist_for_their_gp(
        personas: Personas, client_for: ClientFor, db: Database, clock: ManualClock) -> None:
    from tests.factories import make_delegate

    await put_on_call(db, personas.derm2, "dermatology", clock.now())
    dee = await make_delegate(db, clock, email="dee@example.org", name="Dee Lewis",
                              gps=(personas.gp,))
    clinic = await client_for(dee)
    sent = ok(await submit(clinic, gp=personas.gp.email, specialist=personas.derm2.email), 201)
    assert sent["assigned_to"] == personas.derm2.id
    mine = ok(await clinic.get(
        f"/api/v1/specialties/dermatology/specialists?gp={personas.gp.email}"))
    assert mine["usual"] == personas.derm2.email  # remembered for the GP, not the delegate
    gp = await client_for(personas.gp)
    assert ok(await gp.get("/api/v1/specialties/dermatology/specialists"))["usual"] == (
        personas.derm2.email)
    other = await clinic.get(
        f"/api/v1/specialties/dermatology/specialists?gp={personas.other_gp.email}")
    assert other.status_code == 400  # not one of hers
    specialist = await client_for(personas.derm)
    assert (await specialist.get("/api/v1/specialties/dermatology/specialists")).status_code \
        == 404


async def test_the_form_offers_the_clinical_details(
        personas: Personas, client_for: ClientFor) -> None:
    page = await (await client_for(personas.gp)).get("/consults/new")
    assert page.status_code == 200
    for marker in ('id="clinical-fields"', 'name="patient_sex"', 'name="medications"',
                   'name="allergies"', 'name="reason"', 'name="checklist"',
                   'name="specialist"'):
        assert marker in page.text, marker
