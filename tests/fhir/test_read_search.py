"""Reading consults through /fhir as they move: Task status and businessStatus per state,
the thread as Communications, the close-out survey, the letter; searches with paging
and _include; and nothing of another GP's, ever (404, like an unknown id)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit
from tests.fhir.helpers import (
    FHIR_JSON,
    Registered,
    bearer,
    create,
    get,
    location_id,
    photo,
    register,
    resources,
    token,
    transaction_bundle,
)


async def test_the_task_and_thread_follow_the_consult_to_its_close(
        fhir: httpx.AsyncClient, personas: Personas, client_for: ClientFor,
        clock: ManualClock, emr: Registered) -> None:
    cid = location_id(await create(fhir, transaction_bundle(personas.gp,
                                                            photos=[(photo(1), "overview")])))
    derm, gp = await client_for(personas.derm), await client_for(personas.gp)

    async def task_state() -> tuple[str, str]:
        clock.advance(timedelta(minutes=1))
        task = await get(fhir, f"/fhir/Task/{cid}")
        return task["status"], task["businessStatus"]["coding"][0]["code"]

    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    assert await task_state() == ("in-progress", "in_review")
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Any bleeding?"}), 201)
    assert await task_state() == ("on-hold", "awaiting_gp")
    ok(await gp.post(f"/api/v1/consults/{cid}/messages",
                     json={"kind": "message", "body": "No bleeding, slight itch."}), 201)
    assert await task_state() == ("in-progress", "in_review")
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Benign naevus; excise if it changes.",
                             "minutes": 12}), 201)
    task = await get(fhir, f"/fhir/Task/{cid}")
    assert task["status"] == "completed"
    assert [c["code"] for c in task["businessStatus"]["coding"]] == ["answered",
                                                                     "completed-with-advice"]
    thread = await get(fhir, f"/fhir/Communication?based-on=ServiceRequest/{cid}"
                             "&_include=Communication:sender")
    # Oldest change first; the header changes with the consult, so it comes (nearly) last.
    found = resources(thread)
    comms = sorted(found, key=lambda c: (c["id"] != cid, c["sent"]))
    kinds = [c["category"][0]["coding"][0]["code"] for c in comms]
    assert kinds == ["thread", "clarification-request", "clarification-response", "answer"]
    header, question, reply, answer = comms
    assert header["id"] == cid and "payload" not in header
    assert all(c["partOf"] == [{"reference": f"Communication/{cid}"}] for c in comms[1:])
    assert reply["inResponseTo"] == [{"reference": f"Communication/{question['id']}"}]
    assert reply["recipient"] == [{"reference": f"PractitionerRole/{personas.derm.id}"}]
    assert answer["payload"][0]["contentString"].startswith("Benign naevus")
    assert answer["sender"] == {"reference": f"PractitionerRole/{personas.derm.id}"}
    senders = {r["id"] for r in resources(thread, "include")}
    assert senders == {str(personas.derm.id), str(personas.gp.id)}
    outputs = {o["type"]["coding"][0]["code"]: o for o in task["output"]}
    assert outputs["answer"]["valueReference"] == {"reference": f"Communication/{answer['id']}"}
    letter_ref = outputs["letter"]["valueReference"]["reference"]
    assert letter_ref == f"DocumentReference/letter-{cid}"
    letter = await get(fhir, f"/fhir/{letter_ref}")
    assert letter["docStatus"] == "preliminary"
    pdf = await fhir.get(f"/fhir/Binary/letter-{cid}", headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    clock.advance(timedelta(minutes=1))
    ok(await gp.post(f"/api/v1/consults/{cid}/close",
                     json={"outcome": "referral_avoided", "usefulness": 5,
                           "comment": "Saved a trip"}))
    task = await get(fhir, f"/fhir/Task/{cid}")
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("completed",
                                                                              "closed")
    request = await get(fhir, f"/fhir/ServiceRequest/{cid}")
    assert request["status"] == "completed"
    survey = await get(fhir, f"/fhir/QuestionnaireResponse/closeout-{cid}")
    answers = {i["linkId"]: i.get("answer", [{}])[0] for i in survey["item"]}
    assert answers["outcome"]["valueCoding"]["code"] == "referral_avoided"
    assert answers["usefulness"] == {"valueInteger": 5}
    assert answers["comment"] == {"valueString": "Saved a trip"}
    assert (await get(fhir, f"/fhir/{letter_ref}"))["docStatus"] == "final"


async def test_a_cancelled_and_a_pooled_consult(
        anon: httpx.AsyncClient, personas: Personas, client_for: ClientFor, db: Database,
        clock: ManualClock) -> None:
    emr = await register(db, clock, [personas.gp])  # nobody on call: the pool
    anon.headers.update(bearer(await token(anon, emr, clock.now())))
    cid = location_id(await create(anon, transaction_bundle(personas.gp)))
    task = await get(anon, f"/fhir/Task/{cid}")
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("requested",
                                                                              "pooled")
    assert "owner" not in task and task["performerType"][0]["coding"][0]["code"] == "394582007"
    ok(await (await client_for(personas.gp)).post(f"/api/v1/consults/{cid}/cancel"))
    task = await get(anon, f"/fhir/Task/{cid}")
    assert (task["status"], task["statusReason"]["text"]) == ("cancelled", "Withdrawn by the GP")
    assert (await get(anon, f"/fhir/ServiceRequest/{cid}"))["status"] == "revoked"


async def test_another_gps_consult_is_not_found_anywhere(
        fhir: httpx.AsyncClient, personas: Personas, client_for: ClientFor) -> None:
    other = ok(await submit(await client_for(personas.other_gp), files=[
        ("images", ("a.jpg", photo(3), "image/jpeg"))], image_labels="overview"), 201)
    cid, image = other["id"], other["images"][0]["id"]
    for path in (f"ServiceRequest/{cid}", f"Task/{cid}", f"Patient/{cid}",
                 f"Communication/{cid}", f"DocumentReference/{image}", f"Binary/{image}",
                 f"QuestionnaireResponse/closeout-{cid}", f"Practitioner/{personas.other_gp.id}",
                 "ServiceRequest/00000000-0000-4000-8000-000000000000"):
        response = await fhir.get(f"/fhir/{path}")
        assert response.status_code == 404, path
        assert response.json()["issue"][0]["code"] == "not-found", path
    for search in ("ServiceRequest", "Task", f"Communication?based-on=ServiceRequest/{cid}",
                   "DocumentReference", "Patient?identifier=9876 543 210"):
        assert (await get(fhir, f"/fhir/{search}"))["entry"] == [], search
    dicom = await fhir.get(f"/api/v1/images/{image}/dicom")
    assert dicom.status_code == 401  # the web API knows no bearer tokens


async def test_searches_filter_page_and_include(
        fhir: httpx.AsyncClient, personas: Personas, client_for: ClientFor,
        clock: ManualClock) -> None:
    first = location_id(await create(fhir, transaction_bundle(personas.gp, identifier="a")))
    clock.advance(timedelta(minutes=2))  # well within the token's five minutes
    second = location_id(await create(fhir, transaction_bundle(
        personas.gp, identifier="b", health_number="1111 222 333")))
    clock.advance(timedelta(minutes=1))
    ok(await (await client_for(personas.derm)).post(f"/api/v1/consults/{first}/acknowledge"))

    page = await get(fhir, "/fhir/Task?_count=1")
    assert [t["id"] for t in resources(page)] == [second]  # oldest change first
    link = {x["relation"]: x["url"] for x in page["link"]}
    assert link["next"].startswith("http://testserver/fhir/Task?_count=1&_cursor=")
    rest = await get(fhir, link["next"].removeprefix("http://testserver"))
    assert [t["id"] for t in resources(rest)] == [first]
    assert "next" not in {x["relation"] for x in rest["link"]}

    assert [t["id"] for t in resources(await get(fhir, "/fhir/Task?status=in-progress"))] == [
        first]
    assert [t["id"] for t in resources(await get(
        fhir, "/fhir/ServiceRequest?status=active&patient.identifier=1111222333"))] == [second]
    assert [p["id"] for p in resources(await get(fhir, "/fhir/Patient?identifier="
        "https://fhir.infoway-inforoute.ca/NamingSystem/ca-bc-patient-healthcare-id|"
        "1111-222-333"))] == [second]
    since = (clock.now() - timedelta(minutes=4)).isoformat()
    recent = await fhir.get("/fhir/ServiceRequest", params={"_lastUpdated": f"gt{since}"})
    assert {r["resource"]["id"] for r in recent.json()["entry"]} == {first, second}
    older = await fhir.get("/fhir/ServiceRequest", params={"_lastUpdated": f"lt{since}"})
    assert older.json()["entry"] == []

    bundle = await get(fhir, f"/fhir/ServiceRequest?_id={first}&_include=ServiceRequest:patient"
                             "&_include=ServiceRequest:performer&_revinclude=Task:focus")
    included = {(r["resourceType"], r["id"]) for r in resources(bundle, "include")}
    assert included == {("Patient", first), ("PractitionerRole", str(personas.derm.id)),
                        ("Task", first)}
    roles = await get(fhir, "/fhir/PractitionerRole?_include=PractitionerRole:practitioner")
    assert {r["id"] for r in resources(roles)} == {str(personas.gp.id), str(personas.derm.id)}
    assert {r["resourceType"] for r in resources(roles, "include")} == {"Practitioner"}


async def test_bad_searches_answer_an_operation_outcome(fhir: httpx.AsyncClient) -> None:
    for path, status in (("/fhir/Task?colour=blue", 400), ("/fhir/Task?_count=0", 400),
                         ("/fhir/Task?_cursor=bogus", 400), ("/fhir/Task?_sort=x", 400),
                         ("/fhir/Task?_include=Task:nothing", 400),
                         ("/fhir/Task?_lastUpdated=gtyesterday", 400),
                         ("/fhir/Observation", 404), ("/fhir/Task/bad$id", 404),
                         ("/fhir", 404), ("/fhir/Task/x/_history", 404)):
        response = await fhir.get(path)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith(FHIR_JSON), path
        assert response.json()["resourceType"] == "OperationOutcome", path
    put = await fhir.put("/fhir/Task/x", json={})
    assert put.status_code == 405 and put.json()["resourceType"] == "OperationOutcome"


async def test_a_scope_the_token_lacks_is_refused(
        anon: httpx.AsyncClient, personas: Personas, db: Database, clock: ManualClock) -> None:
    tasks_only = await register(db, clock, [personas.gp], scopes=("system/Task.rs",))
    anon.headers.update(bearer(await token(anon, tasks_only, clock.now())))
    assert (await anon.get("/fhir/Task")).status_code == 200
    for path in ("/fhir/ServiceRequest", "/fhir/Patient/x", "/fhir/Task?_include=Task:patient",
                 "/fhir/Binary/x"):
        response = await anon.get(path)
        assert response.status_code == 403, path
        assert response.json()["issue"][0]["code"] == "forbidden"


async def test_every_read_is_audited_with_the_client_as_actor(
        fhir: httpx.AsyncClient, personas: Personas, emr: Registered, db: Database) -> None:
    cid = location_id(await create(fhir, transaction_bundle(personas.gp,
                                                            photos=[(photo(1), "overview")])))
    await get(fhir, f"/fhir/Task/{cid}")
    await get(fhir, "/fhir/ServiceRequest")
    docs = await get(fhir, f"/fhir/DocumentReference?related=ServiceRequest/{cid}")
    image = resources(docs)[0]
    raw = await fhir.get(f"/fhir/Binary/{image['id']}", headers={"Accept": "image/*"})
    assert raw.headers["content-type"] == "image/jpeg" and raw.content[:2] == b"\xff\xd8"
    assert image["content"][0]["attachment"]["size"] == len(raw.content)
    wrapped = await get(fhir, f"/fhir/Binary/{image['id']}")
    assert wrapped["resourceType"] == "Binary" and wrapped["contentType"] == "image/jpeg"
    await get(fhir, "/fhir/Practitioner")
    async with db.read() as session:
        rows = list((await session.execute(
            select(AuditEvent).where(col(AuditEvent.actor_email) == f"client:{emr.id}")
            .order_by(col(AuditEvent.id)))).scalars())
    actions = [(r.action, r.object_type, r.object_id) for r in rows]
    assert ("fhir.read", "consult", cid) in actions
    assert ("fhir.search", "consult", cid) in actions
    assert actions.count(("image.view", "image", image["id"])) == 2
    assert ("fhir.search", "fhir", "Practitioner") in actions


async def test_metadata_and_smart_configuration(anon: httpx.AsyncClient) -> None:
    statement = await get(anon, "/fhir/metadata")  # no token needed to discover
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    rest = statement["rest"][0]
    types = {r["type"]: r for r in rest["resource"]}
    assert set(types) == {"ServiceRequest", "Task", "Communication", "QuestionnaireResponse",
                          "DocumentReference", "Binary", "Patient", "Practitioner",
                          "PractitionerRole"}
    assert "patient.identifier" in {p["name"] for p in types["ServiceRequest"]["searchParam"]}
    assert rest["interaction"] == [{"code": "transaction", "documentation": rest[
        "interaction"][0]["documentation"]}]
    smart = (await anon.get("/fhir/.well-known/smart-configuration",
                            headers={"Accept": "text/html"})).json()
    assert smart["token_endpoint"] == "http://testserver/oauth/token"
    assert smart["grant_types_supported"] == ["client_credentials"]
    assert smart["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert {"RS384", "ES384"} <= set(smart["token_endpoint_auth_signing_alg_values_supported"])
    assert smart["code_challenge_methods_supported"] == ["S256"]
    assert "client-confidential-asymmetric" in smart["capabilities"]


async def test_a_server_fault_is_an_operation_outcome_too(
        fhir: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from econsult.interop.fhir import search

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(search, "_run", broken)
    response = await fhir.get("/fhir/Task")
    assert response.status_code == 500
    assert response.json()["issue"][0]["severity"] == "fatal"
    assert "a bug" not in response.text
