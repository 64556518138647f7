"""Issue 16's clinical content through /fhir: the workup checklist and each structured
answer as QuestionnaireResponses (read, searched, listed in the Task's outputs), a PDF
attachment as a DocumentReference with its bytes as a Binary, the patient's sex as
Patient.gender; and none of it for a client acting for another GP (404, empty searches)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.interop.fhir.codes import CS_ATTACHMENT
from tests.conftest import ClientFor
from tests.consults.test_clinical_content import ANSWER, PALPITATIONS, sign_as
from tests.factories import Personas, ok, put_on_call, submit
from tests.fhir.helpers import bearer, ec_key, get, register, resources, token
from tests.images.pdf_factories import benign

PDF = "application/pdf"


@pytest.fixture
async def consult(personas: Personas, client_for: ClientFor, db: Database,
                  clock: ManualClock) -> dict[str, Any]:
    """A cardiology consult with a checklist, the patient's sex and a PDF, answered with
    structured parts by the signed cardiologist, then (after the GP's follow-up) a plain
    (unstructured) answer."""
    await put_on_call(db, personas.cardio, "cardiology", clock.now())
    gp, cardio = await client_for(personas.gp), await client_for(personas.cardio)
    created = ok(await submit(
        gp, files=[("attachments", ("Holter report.pdf", benign(2), PDF))],
        specialty="cardiology", body_site=None, reason="palpitations",
        checklist=json.dumps(PALPITATIONS), patient_sex="intersex",
        question="Palpitations for two months, weekly. Holter first or refer?"), 201)
    cid = created["id"]
    ok(await cardio.post(f"/api/v1/consults/{cid}/acknowledge"))
    await sign_as(db, personas.cardio)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages", json=ANSWER), 201)
    ok(await gp.post(f"/api/v1/consults/{cid}/messages",
                     json={"kind": "message", "body": "And caffeine?"}), 201)
    ok(await cardio.post(f"/api/v1/consults/{cid}/messages",
                         json={"kind": "answer", "body": "Cut it down.", "minutes": 2}), 201)
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    answers = [m for m in detail["messages"] if m["kind"] == "answer"]
    return {"id": cid, "submitted_at": detail["submitted_at"],
            "answer": answers[0], "plain": answers[1],
            "attachment": created["attachments"][0]["id"]}


def _answers(qr: dict[str, Any]) -> dict[str, Any]:
    return {i["linkId"]: i["answer"][0] for i in qr["item"] if "answer" in i}


async def test_the_checklist_and_structured_answer_are_questionnaire_responses(
        fhir: httpx.AsyncClient, consult: dict[str, Any], personas: Personas) -> None:
    cid, answer = consult["id"], consult["answer"]
    checklist = await get(fhir, f"/fhir/QuestionnaireResponse/checklist-{cid}")
    assert checklist["questionnaire"] == ("https://econsult.example/fhir/Questionnaire/"
                                          "checklist-cardiology-palpitations|1")
    assert checklist["author"] == {"reference": f"PractitionerRole/{personas.gp.id}"}
    assert checklist["subject"] == {"reference": f"Patient/{cid}"}
    items = _answers(checklist)
    assert items["episode_frequency"]["valueCoding"]["code"] == "weekly"
    assert items["tsh"] == {"valueDecimal": 2.1}
    assert items["ecg_attached"] == {"valueBoolean": True}
    assert "hemoglobin" not in items  # not answered: no answer element
    assert "hemoglobin" in {i["linkId"] for i in checklist["item"]}

    structured = await get(fhir, f"/fhir/QuestionnaireResponse/answer-{answer['id']}")
    assert structured["author"] == {"reference": f"PractitionerRole/{personas.cardio.id}",
                                    "display": "Dr Carla Dio"}
    message = await get(fhir, f"/fhir/Communication/{answer['id']}")
    assert structured["authored"] == message["sent"]  # when the answer was sent
    assert checklist["authored"] == (await get(fhir, f"/fhir/Task/{cid}"))["authoredOn"]
    assert _answers(structured) == {
        "impression": {"valueString": ANSWER["impression"]},
        "plan": {"valueString": ANSWER["plan"]},
        "refer_if": {"valueString": ANSWER["refer_if"]},
        "follow_up": {"valueString": ANSWER["follow_up"]},
        "referral_advised": {"valueBoolean": False}}
    # A plain answer is signed but has no parts: no QuestionnaireResponse.
    missing = await fhir.get(f"/fhir/QuestionnaireResponse/answer-{consult['plain']['id']}")
    assert missing.status_code == 404

    found = await get(fhir, f"/fhir/QuestionnaireResponse?based-on=ServiceRequest/{cid}")
    assert {r["id"] for r in resources(found)} == {f"checklist-{cid}", f"answer-{answer['id']}"}
    by_id = await get(fhir, f"/fhir/QuestionnaireResponse?_id=answer-{answer['id']},"
                            f"closeout-{cid}")
    assert [r["id"] for r in resources(by_id)] == [f"answer-{answer['id']}"]

    task = await get(fhir, f"/fhir/Task/{cid}")
    outputs = [(o["type"]["coding"][0]["code"], o.get("valueReference", {}).get("reference"))
               for o in task["output"]]
    assert ("checklist", f"QuestionnaireResponse/checklist-{cid}") in outputs
    assert ("structured-answer", f"QuestionnaireResponse/answer-{answer['id']}") in outputs
    assert [o for o in outputs if o[0] == "structured-answer"] == [
        ("structured-answer", f"QuestionnaireResponse/answer-{answer['id']}")]

    patient = await get(fhir, f"/fhir/Patient/{cid}")
    assert patient["gender"] == "other"  # intersex


async def test_a_pdf_attachment_is_a_document_reference_with_its_binary(
        fhir: httpx.AsyncClient, consult: dict[str, Any], personas: Personas) -> None:
    cid, aid = consult["id"], consult["attachment"]
    doc = await get(fhir, f"/fhir/DocumentReference/attachment-{aid}")
    assert doc["category"][0]["coding"] == [{"system": CS_ATTACHMENT, "code": "document",
                                             "display": "Document (PDF)"}]
    attachment = doc["content"][0]["attachment"]
    assert attachment["contentType"] == PDF and attachment["title"] == "Holter report.pdf"
    assert attachment["url"] == f"http://testserver/fhir/Binary/attachment-{aid}"
    assert doc["author"] == [{"reference": f"PractitionerRole/{personas.gp.id}"}]
    binary = await fhir.get(f"/fhir/Binary/attachment-{aid}", headers={"Accept": PDF})
    assert binary.status_code == 200 and binary.content.startswith(b"%PDF")
    assert attachment["size"] == len(binary.content)

    documents = await get(fhir, f"/fhir/DocumentReference?related=ServiceRequest/{cid}"
                                "&category=document")
    assert [r["id"] for r in resources(documents)] == [f"attachment-{aid}"]
    letters = await get(fhir, f"/fhir/DocumentReference?related=ServiceRequest/{cid}"
                              "&category=letter")
    assert [r["id"] for r in resources(letters)] == [f"letter-{cid}"]
    every = await get(fhir, f"/fhir/DocumentReference?related=ServiceRequest/{cid}")
    assert {r["id"] for r in resources(every)} == {f"attachment-{aid}", f"letter-{cid}"}


async def test_a_client_of_another_gp_finds_none_of_it(
        anon: httpx.AsyncClient, consult: dict[str, Any], personas: Personas, db: Database,
        clock: ManualClock) -> None:
    other = await register(db, clock, [personas.other_gp], key=ec_key("other-emr"),
                           name="Other EMR")
    anon.headers.update(bearer(await token(anon, other, clock.now())))
    cid, mid, aid = consult["id"], consult["answer"]["id"], consult["attachment"]
    for path in (f"QuestionnaireResponse/checklist-{cid}", f"QuestionnaireResponse/answer-{mid}",
                 f"DocumentReference/attachment-{aid}", f"Binary/attachment-{aid}",
                 f"Patient/{cid}"):
        response = await anon.get(f"/fhir/{path}")
        assert response.status_code == 404, path
        assert response.json()["issue"][0]["code"] == "not-found", path
    for search in ("QuestionnaireResponse", f"QuestionnaireResponse?_id=checklist-{cid}",
                   f"QuestionnaireResponse?_id=answer-{mid}", "DocumentReference?category=document",
                   f"DocumentReference?_id=attachment-{aid}"):
        assert (await get(anon, f"/fhir/{search}"))["entry"] == [], search
