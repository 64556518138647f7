"""The FHIR mapping as pure functions of a consult record: every state's Task, the
thread's kinds and replies, checklist items, names, and urgency both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from econsult.consults.checklists import load_defaults
from econsult.interop.fhir import threads
from econsult.interop.fhir.codes import CS_URGENCY, EXT_URGENCY, health_number_system
from econsult.interop.fhir.people import human_name, patient, practitioner_role
from econsult.interop.fhir.questionnaires import checklist_items, responses, structured_answers
from econsult.interop.fhir.service_requests import service_request
from econsult.interop.fhir.tasks import task
from econsult.interop.fhir.transaction import _urgency
from econsult.interop.record import (
    ConsultRecord,
    Person,
    RecordAnswerParts,
    RecordMessage,
)
from econsult.models import Consult, Role
from tests.fhir.helpers import validate

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
GP, DERM = Person(1, "Dr Gail Parker", "gp@x.org", Role.gp, True, T0), Person(
    2, "Dr Dana Ermine", "derm@x.org", Role.specialist, True, T0, ("dermatology",))
CID = "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"


def record(state: str, *, messages: tuple[RecordMessage, ...] = (),
           patient_sex: str | None = None,
           answer_parts: dict[str, RecordAnswerParts] | None = None, **consult: Any
           ) -> ConsultRecord:
    fields: dict[str, Any] = dict(
        id=CID, gp_id=1, specialty="dermatology", urgency="routine", state=state,
        assigned_to=None if state == "pooled" else 2, submitted_at=T0,
        updated_at=T0 + timedelta(hours=1), respond_due_at=T0 + timedelta(days=7))
    fields.update(consult)
    return ConsultRecord(
        consult=Consult(**fields), patient_name="Jane Doe", patient_dob="1980-02-03",
        health_number="9876543210", question="Is this a melanoma?",
        details={"body_site": "left forearm", "duration": "3 months"}, close_comment=None,
        specialty_name="Dermatology", images=(), messages=messages, events=(),
        people={1: GP, 2: DERM}, patient_sex=patient_sex, answer_parts=answer_parts or {})


@pytest.mark.parametrize(("state", "status", "owner"), [
    ("assigned", "requested", True), ("pooled", "requested", False),
    ("in_review", "in-progress", True), ("awaiting_gp", "on-hold", True),
    ("answered", "completed", True), ("closed", "completed", True),
    ("cancelled", "cancelled", True),
])
def test_every_state_has_its_task(state: str, status: str, owner: bool) -> None:
    rec = record(state, answered_at=T0 if state in ("answered", "closed") else None,
                 outcome="referral_avoided" if state == "closed" else None,
                 usefulness=4 if state == "closed" else None,
                 closed_at=T0 if state == "closed" else None)
    resource = task(rec)
    validate(resource)
    assert resource["status"] == status
    assert resource["businessStatus"]["coding"][0]["code"] == state
    assert ("owner" in resource) is owner
    assert resource["basedOn"] == [{"reference": f"ServiceRequest/{CID}"}]
    assert resource["focus"] == {"reference": f"ServiceRequest/{CID}"}
    outputs = {o["type"]["coding"][0]["code"] for o in resource.get("output", [])}
    assert ("letter" in outputs) is (state in ("answered", "closed"))
    assert ("closeout-survey" in outputs) is (state == "closed")
    for built in (service_request(rec), patient(rec, health_number_system("CA-BC")),
                  *responses(rec)):
        validate(built)


def test_a_referral_conversion_says_the_patient_needs_to_be_seen() -> None:
    resource = task(record("in_review", converted_to="referral"))
    assert resource["extension"][0]["valueBoolean"] is True
    assert {"type": resource["output"][0]["type"], "valueBoolean": True} == resource["output"][0]


def _message(n: int, kind: str, author: int) -> RecordMessage:
    return RecordMessage(f"00000000-0000-4000-8000-00000000000{n}", kind, author,
                         T0 + timedelta(minutes=n), f"message {n}")


def test_replies_point_at_what_they_answer() -> None:
    rec = record("in_review", messages=(
        _message(1, "clarification_request", 2), _message(2, "message", 1),
        _message(3, "answer", 2), _message(4, "message", 1), _message(5, "message", 1)))
    entries = threads.entries(rec)
    assert [(e.category, e.in_response_to and e.in_response_to[-1]) for e in entries] == [
        ("clarification-request", None), ("clarification-response", "1"), ("answer", None),
        ("message", "3"), ("message", None)]
    for built in threads.communications(rec):
        validate(built)


def test_checklist_answers_become_typed_items() -> None:
    checklist = next(c for c in load_defaults() if c.specialty == "dermatology")
    props = checklist.schema["properties"]
    answers: dict[str, object] = {}
    for name, prop in props.items():
        if prop["type"] == "boolean":
            answers[name] = True
        elif prop["type"] in ("number", "integer"):
            answers[name] = 7
        elif "enum" in prop:
            answers[name] = prop["enum"][0]
    items = checklist_items(checklist.schema, answers, "urn:example:cs")
    assert [i["linkId"] for i in items] == list(props)
    typed = {i["linkId"]: next(iter(i["answer"][0])) for i in items if "answer" in i}
    for name, prop in props.items():
        if name in answers:
            expected = {"boolean": "valueBoolean", "integer": "valueInteger",
                        "number": "valueDecimal"}.get(prop["type"], "valueCoding")
            assert typed[name] == expected, name
        else:
            assert name not in typed  # unanswered: no answer element
    validate({"resourceType": "QuestionnaireResponse", "status": "completed", "item": items})


@pytest.mark.parametrize(("text", "name"), [
    ("Jane Doe", {"text": "Jane Doe", "family": "Doe", "given": ["Jane"]}),
    ("Dr Gail Parker", {"text": "Dr Gail Parker", "prefix": ["Dr"], "family": "Parker",
                        "given": ["Gail"]}),
    ("de la Cruz, Ana Maria", {"text": "de la Cruz, Ana Maria", "family": "de la Cruz",
                               "given": ["Ana", "Maria"]}),
    ("Cher", {"text": "Cher", "family": "Cher"}),
])
def test_names(text: str, name: dict[str, Any]) -> None:
    assert human_name(text) == name


def test_health_number_systems_follow_the_province() -> None:
    assert health_number_system("CA-BC").endswith("/ca-bc-patient-healthcare-id")
    assert health_number_system("CA-ON").endswith("/ca-on-patient-hcn")
    assert health_number_system("CA-AB").endswith("/ca-ab-patient-healthcare-id")


@pytest.mark.parametrize(("priority", "tier", "urgency"), [
    (None, None, "routine"), ("routine", None, "routine"), ("urgent", None, "urgent"),
    ("asap", None, "urgent"), ("stat", None, "urgent"), ("urgent", "semi_urgent", "semi_urgent"),
])
def test_urgency_from_priority_and_tier(priority: str | None, tier: str | None,
                                        urgency: str) -> None:
    request: dict[str, Any] = {"priority": priority} if priority else {}
    if tier:
        request["extension"] = [{"url": EXT_URGENCY,
                                 "valueCoding": {"system": CS_URGENCY, "code": tier}}]
    assert _urgency(request, "ServiceRequest") == urgency
    built = service_request(record("assigned", urgency=urgency))
    assert built["extension"][0]["valueCoding"]["code"] == urgency  # lossless back


def test_a_specialist_role_names_their_specialties() -> None:
    role = practitioner_role(DERM, {"dermatology": "Dermatology"})
    validate(role)
    assert role["specialty"][0]["coding"][0]["code"] == "394582007"


@pytest.mark.parametrize(("sex", "gender"), [
    ("female", "female"), ("male", "male"), ("intersex", "other"), ("unknown", "unknown"),
    (None, None),
])
def test_the_patients_sex_is_their_gender(sex: str | None, gender: str | None) -> None:
    built = patient(record("assigned", patient_sex=sex), health_number_system("CA-BC"))
    validate(built)
    assert built.get("gender") == gender


def test_only_an_answer_with_structured_parts_is_a_questionnaire_response() -> None:
    answers = (_message(1, "answer", 2), _message(2, "answer", 2), _message(3, "answer", 2))

    def parts(n: int, **given: Any) -> RecordAnswerParts:
        fields: dict[str, Any] = dict(impression="", plan="", refer_if="", follow_up="",
                                      referral_advised=False)
        fields.update(given)
        return RecordAnswerParts(message_id=answers[n - 1].id, signatory_id=2,
                                 signatory_name="Dr Dana Ermine", **fields)

    rec = record("answered", messages=answers, answered_at=T0, answer_parts={
        answers[0].id: parts(1), answers[1].id: parts(2, referral_advised=True),
        answers[2].id: parts(3, plan="Biopsy.")})
    built = structured_answers(rec)
    assert [qr["id"] for qr in built] == [f"answer-{answers[1].id}", f"answer-{answers[2].id}"]
    for qr in built:
        validate(qr)
    assert built[0]["authored"] == "2026-03-02T17:02:00.000Z"
    outputs = [o["valueReference"]["reference"] for o in task(rec)["output"]
               if o["type"]["coding"][0]["code"] == "structured-answer"]
    assert outputs == [f"QuestionnaireResponse/{qr['id']}" for qr in built]
