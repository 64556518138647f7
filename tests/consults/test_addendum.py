"""The specialist's addendum to an answer: only on an answered (or closed) consult,
only by the specialist who holds it, audited, shown under the answer, and the
consult stays as it was. Also: follow-ups and conversions labelled in lists."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit


async def answered(gp: httpx.AsyncClient, derm: httpx.AsyncClient) -> str:
    cid: str = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Excise it.", "minutes": 10}), 201)
    return cid


def addendum(body: str = "Send the histology to me, please.") -> dict[str, str]:
    return {"kind": "addendum", "body": body}


async def test_an_addendum_sits_under_the_answer_and_reopens_nothing(
    rota: None, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = await answered(gp, derm)
    before = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert "addendum" in ok(await derm.get(f"/api/v1/consults/{cid}"))["actions"]
    assert "addendum" not in before["actions"]  # the GP's page shows no such button
    r = ok(await derm.post(f"/api/v1/consults/{cid}/messages", json=addendum()), 201)
    assert r["consult"]["state"] == "answered"
    after = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert after["state"] == "answered" and after["answered_at"] == before["answered_at"]
    assert after["due_at"] == before["due_at"]
    assert [m["kind"] for m in after["messages"]] == ["answer", "addendum"]
    assert after["events"][-1]["type"] == "addendum"
    async with db.read() as session:
        actions = list((await session.execute(
            select(col(AuditEvent.action)).where(col(AuditEvent.object_id) == cid))).scalars())
    assert "consult.addendum" in actions
    # On the thread page it is rendered inside the answer's item, labelled.
    page = (await gp.get(f"/consults/{cid}")).text
    answer_item = re.search(r'<li class="message kind-answer.*?</ol>\s*</li>', page, re.S)
    assert answer_item and "Send the histology to me, please." in answer_item.group(0)
    assert '<span class="badge kind">addendum</span>' in answer_item.group(0)
    # Still closable by the GP, and an addendum after closing is accepted too.
    ok(await gp.post(f"/api/v1/consults/{cid}/close",
                     json={"outcome": "referral_avoided", "usefulness": 4, "comment": "Thanks"}))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages", json=addendum("One more.")), 201)
    closed = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert closed["state"] == "closed" and closed["closed_at"]


async def test_who_and_when_an_addendum_is_refused(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = ok(await submit(gp), 201)["id"]
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    # Before the answer: nothing to add to (409, and it says why).
    early = await derm.post(f"/api/v1/consults/{cid}/messages", json=addendum())
    assert early.status_code == 409 and "answer the consult first" in early.text
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": "Excise it.", "minutes": 10}), 201)
    # Only who may answer may add to the answer: the GP (as for an answer), another
    # specialist (even of the specialty) and everyone else get the same 404.
    for other in (personas.gp, personas.derm2, personas.cardio, personas.other_gp, personas.staff):
        client = await client_for(other)
        r = await client.post(f"/api/v1/consults/{cid}/messages", json=addendum())
        assert r.status_code == 404, (other.email, r.text)
    empty = await derm.post(f"/api/v1/consults/{cid}/messages", json=addendum("   "))
    assert empty.status_code == 400
    detail = ok(await gp.get(f"/api/v1/consults/{cid}"))
    assert [m["kind"] for m in detail["messages"]] == ["answer"]  # nothing half-written


async def test_follow_ups_and_conversions_are_labelled_in_lists(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = await answered(gp, derm)
    ok(await gp.post(f"/api/v1/consults/{cid}/messages", json={"body": "And if it grows?"}),
       201)
    other = ok(await submit(gp), 201)["id"]
    ok(await gp.post(f"/api/v1/consults/{other}/convert", json={"to": "referral",
                                                                 "reason": "Needs a biopsy."}))
    rows = {r["id"]: r for r in ok(await derm.get("/api/v1/consults"))["consults"]}
    assert rows[cid]["follow_up"] is True and rows[other]["follow_up"] is False
    assert rows[other]["converted_to"] == "referral"
    queue = (await derm.get("/queue")).text
    item = re.search(rf'<li class="qrow[^"]*" data-id="{cid}".*?</li>', queue, re.S)
    assert item and re.search(r'label-follow-up"\s*>Follow-up', item.group(0))
    converted = re.search(rf'<li class="qrow[^"]*" data-id="{other}".*?</li>', queue, re.S)
    assert converted and "Converted to referral" in converted.group(0)
    mine = (await gp.get("/consults")).text
    assert re.search(rf'data-id="{cid}">.*?Follow-up', mine, re.S)
    assert re.search(rf'data-id="{other}">.*?Converted to referral', mine, re.S)


async def test_the_gps_survey_is_shown_after_closing(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    cid = await answered(gp, derm)
    assert 'id="survey" hidden' in (await gp.get(f"/consults/{cid}")).text
    ok(await gp.post(f"/api/v1/consults/{cid}/close",
                     json={"outcome": "referral_avoided", "usefulness": 4,
                           "comment": "Saved a trip"}))
    for client in (gp, derm):
        page = (await client.get(f"/consults/{cid}")).text
        survey = page[page.index('id="survey"'):page.index('id="actions"')]
        assert "hidden" not in survey.split(">")[0]
        assert "Referral avoided" in survey and "4 of 5" in survey and "Saved a trip" in survey
