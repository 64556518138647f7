"""POST /fhir: a transaction Bundle from an EMR becomes a consult, routed exactly like a
web submission, once per Bundle.identifier; everything refused answers an
OperationOutcome that says where."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import AuditEvent, Consult, ConsultEvent, ConsultImage
from tests.conftest import ClientFor
from tests.factories import Personas, ok, put_on_call
from tests.fhir.helpers import (
    FHIR_JSON,
    Registered,
    bearer,
    create,
    get,
    location_id,
    photo,
    register,
    token,
    transaction_bundle,
)


def refused(response: httpx.Response, status: int, expression: str | None = None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome" and issue["severity"] == "error"
    if expression is not None:
        assert issue["expression"] == [expression], issue
    return str(issue["diagnostics"])


async def post(fhir: httpx.AsyncClient, bundle: Any, **headers: str) -> httpx.Response:
    return await fhir.post("/fhir", json=bundle, headers={"Content-Type": FHIR_JSON, **headers})


async def test_a_bundle_is_submitted_and_routed_like_the_web_form(
        fhir: httpx.AsyncClient, personas: Personas, client_for: ClientFor, db: Database,
        emr: Registered) -> None:
    body = await create(fhir, transaction_bundle(
        personas.gp, photos=[(photo(1), "overview"), (photo(2), "dermoscopy")]))
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created"] * 4
    cid = location_id(body)
    assert body["entry"][0]["response"]["location"] == f"Patient/{cid}"
    # Exactly what the GP sees of a consult submitted on the web: theirs, routed to the
    # dermatologist on call, semi-urgent, with the photos.
    detail = ok(await (await client_for(personas.gp)).get(f"/api/v1/consults/{cid}"))
    assert (detail["state"], detail["assigned_to"], detail["urgency"]) == (
        "assigned", personas.derm.id, "semi_urgent")
    assert detail["question"].startswith("Changing pigmented lesion")
    assert detail["patient"] == {"name": "Jane Doe", "dob": "1980-02-03",
                                 "health_number": "9876543210"}
    assert detail["details"] == {"body_site": "left forearm"}
    assert sorted(i["label"] for i in detail["images"]) == ["dermoscopy", "overview"]
    assert {e["response"]["location"] for e in body["entry"][2:]} == {
        f"DocumentReference/{i['id']}" for i in detail["images"]}
    task = await get(fhir, f"/fhir/Task/{cid}")
    assert (task["status"], task["businessStatus"]["coding"][0]["code"]) == ("requested",
                                                                              "assigned")
    assert task["owner"] == {"reference": f"PractitionerRole/{personas.derm.id}"}
    assert task["restriction"]["period"]["end"].startswith(detail["due_at"][:16])
    request = await get(fhir, f"/fhir/ServiceRequest/{cid}")
    assert request["priority"] == "urgent" and request["performer"] == [
        {"reference": f"PractitionerRole/{personas.derm.id}"}]
    async with db.read() as session:
        audit = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "consult.submit"))).scalar_one()
    # The GP is the responsible clinician; the audit row names the client that sent it.
    assert (audit.actor_id, audit.actor_email) == (personas.gp.id, f"client:{emr.id}")


async def test_a_retried_bundle_creates_nothing_and_answers_the_same(
        fhir: httpx.AsyncClient, personas: Personas, db: Database) -> None:
    bundle = transaction_bundle(personas.gp, photos=[(photo(1), "overview")])
    first = await create(fhir, bundle)
    again = await create(fhir, bundle)
    assert [e["response"]["location"] for e in again["entry"]] == [
        e["response"]["location"] for e in first["entry"]]
    assert {e["response"]["status"] for e in again["entry"]} == {"200 OK"}
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Consult))).scalar() == 1
        assert (await session.execute(
            select(func.count()).select_from(ConsultImage))).scalar() == 1
    # The Idempotency-Key header does the same for a Bundle without an identifier.
    keyed = transaction_bundle(personas.gp, identifier=None)
    one = await post(fhir, keyed, **{"Idempotency-Key": "emr-retry-1"})
    two = await post(fhir, keyed, **{"Idempotency-Key": "emr-retry-1"})
    assert location_id(one.json()) == location_id(two.json())
    refused(await post(fhir, keyed), 400, "Bundle.identifier")


async def test_a_bundle_identifier_is_not_reused_across_gps(
        anon: httpx.AsyncClient, personas: Personas, db: Database, clock: ManualClock) -> None:

    await put_on_call(db, personas.derm, "dermatology", clock.now())
    both = await register(db, clock, [personas.gp, personas.other_gp])
    anon.headers.update(bearer(await token(anon, both, clock.now())))
    await create(anon, transaction_bundle(personas.gp, identifier="same"))
    refused(await post(anon, transaction_bundle(personas.other_gp, identifier="same")), 409)
    await create(anon, transaction_bundle(personas.other_gp, identifier="other"))


async def test_a_gp_the_client_does_not_act_for_is_not_found(
        fhir: httpx.AsyncClient, personas: Personas, db: Database) -> None:
    for gp in (personas.other_gp, personas.derm):
        text = refused(await post(fhir, transaction_bundle(gp)), 404)
        assert "not a GP this client acts for" in text
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Consult))).scalar() == 0


async def test_what_the_bundle_gets_wrong_is_named_and_nothing_is_stored(
        fhir: httpx.AsyncClient, personas: Personas, db: Database) -> None:
    def bundle(**changes: Any) -> dict[str, Any]:
        return transaction_bundle(personas.gp, **changes)

    task = bundle()
    task["entry"].append({"resource": {"resourceType": "Task", "status": "requested",
                                       "intent": "order"},
                          "request": {"method": "POST", "url": "Task"}})
    assert "server creates the Task" in refused(await post(fhir, task), 400,
                                                "Bundle.entry[2].resource")
    unknown = bundle()
    unknown["entry"][1]["resource"]["colour"] = "blue"
    refused(await post(fhir, unknown), 400, "Bundle.entry[1].resource.colour")
    refused(await post(fhir, bundle(question="Help?")), 400,
            "ServiceRequest.reasonCode[0].text")
    refused(await post(fhir, bundle(health_number="!")), 400, "Patient.identifier")
    refused(await post(fhir, bundle(specialty_code="123")), 400,
            "Bundle.entry[1].resource.performerType")
    other_system = bundle()
    other_system["entry"][0]["resource"]["identifier"][0]["system"] = "urn:elsewhere"
    refused(await post(fhir, other_system), 400, "Bundle.entry[0].resource.identifier")
    detached = bundle()
    detached["entry"][1]["resource"]["subject"] = {"reference": "Patient/someone-else"}
    refused(await post(fhir, detached), 400, "Bundle.entry[1].resource.subject")
    url = bundle(photos=[(photo(1), "overview")])
    attachment = url["entry"][2]["resource"]["content"][0]["attachment"]
    attachment["url"] = "http://169.254.169.254/latest/meta-data"
    del attachment["data"]
    assert "not fetched" in refused(await post(fhir, url), 400,
                                    "Bundle.entry[2].resource.content[0].attachment.data")
    not_a_photo = bundle(photos=[(b"%PDF-1.4 not a photo", "overview")])
    refused(await post(fhir, not_a_photo), 400)
    batch = bundle()
    batch["type"] = "batch"
    refused(await post(fhir, batch), 400, "Bundle.type")
    refused(await fhir.post("/fhir", content=b"{", headers={"Content-Type": FHIR_JSON}), 400)
    refused(await fhir.post("/fhir", content=b"<Bundle/>",
                            headers={"Content-Type": "application/fhir+xml"}), 415)
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Consult))).scalar() == 0
        assert (await session.execute(
            select(func.count()).select_from(ConsultEvent))).scalar() == 0


async def test_a_token_without_create_scope_cannot_submit(
        anon: httpx.AsyncClient, personas: Personas, db: Database, clock: ManualClock) -> None:
    reader = await register(db, clock, [personas.gp], scopes=("system/*.rs",))
    anon.headers.update(bearer(await token(anon, reader, clock.now())))
    response = await post(anon, transaction_bundle(personas.gp))
    refused(response, 403)
    assert "insufficient_scope" in response.headers["www-authenticate"]
