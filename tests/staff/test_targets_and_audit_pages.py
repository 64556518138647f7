"""/targets in plain words, and /audit with its filters, chain status and export."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok, put_on_call, submit


def _target_form(staff: httpx.AsyncClient, slug: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": staff.headers["X-CSRF-Token"], "specialty": slug, **fields}


async def test_targets_in_plain_words_apply_to_new_consults(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    staff, gp = await client_for(personas.staff), await client_for(personas.gp)
    page = await staff.get("/targets")
    assert page.status_code == 200
    assert 'name="ack_urgent" value="30 minutes"' in page.text
    assert 'name="respond_semi_urgent" value="2 business days"' in page.text
    before = ok(await submit(gp, urgency="urgent"), 201)
    r = await staff.post("/targets", headers={"X-CSRF-Token": ""}, data=_target_form(
        staff, "dermatology", ack_urgent="15 min", respond_urgent="1 hour",
        clock_urgent="calendar", risk_urgent="50%", ack_semi_urgent="4 business hours",
        respond_semi_urgent="1 business day", clock_semi_urgent="calendar",
        risk_semi_urgent="75", ack_routine="1 day", respond_routine="5 days",
        clock_routine="calendar", risk_routine="80%"))
    assert r.status_code == 303, r.text
    shown = await staff.get(r.headers["location"])
    assert "Dermatology targets saved." in shown.text
    assert 'name="respond_urgent" value="1 hour"' in shown.text
    assert 'name="ack_semi_urgent" value="4 business hours"' in shown.text  # clock from words
    body = {s["slug"]: s for s in ok(await gp.get("/api/v1/specialties"))}
    assert body["dermatology"]["targets"]["urgent"] == {
        "acknowledge_within": "PT15M", "respond_within": "PT1H", "business_time": False,
        "at_risk_fraction": 0.5}
    assert body["dermatology"]["targets"]["semi_urgent"]["business_time"] is True
    clock.advance(timedelta(minutes=1))
    after = ok(await submit(gp, urgency="urgent"), 201)
    submitted = datetime.fromisoformat(after["submitted_at"])
    assert datetime.fromisoformat(after["due_at"]) - submitted == timedelta(hours=1)
    assert datetime.fromisoformat(after["ack_due_at"]) - submitted == timedelta(minutes=15)
    old = datetime.fromisoformat(before["due_at"]) - datetime.fromisoformat(
        before["submitted_at"])
    assert old == timedelta(hours=2)  # consults already sent keep their deadlines
    dashboard = await staff.get("/dashboard?specialty=dermatology")
    assert "<td>15 minutes</td><td>1 hour</td>" in dashboard.text
    async with db.read() as session:
        detail = (await session.execute(select(col(AuditEvent.detail)).where(
            col(AuditEvent.action) == "specialty.targets.update"))).scalar_one()
    assert "urgent=PT15M/PT1H/calendar/0.5" in detail


@pytest.mark.parametrize(("fields", "message"), [
    ({"ack_urgent": "soon"}, "urgent, acknowledge within: 'soon' is not a duration"),
    ({"ack_urgent": "3 hours"}, "is longer than respond_within"),
    ({"risk_urgent": "lots"}, "percentage"),
    ({"risk_urgent": "100%"}, "at_risk_fraction must be between"),
    ({"respond_urgent": "1 month"}, "months or years"),
])
async def test_bad_targets_rerender_with_the_reason_and_change_nothing(
        client_for: ClientFor, personas: Personas, fields: dict[str, str],
        message: str) -> None:
    staff = await client_for(personas.staff)
    before = ok(await staff.get("/api/v1/specialties"))
    data = {"ack_urgent": "30 minutes", "respond_urgent": "2 hours", "clock_urgent": "calendar",
            "risk_urgent": "75", **fields}
    r = await staff.post("/targets", headers={"X-CSRF-Token": ""},
                         data=_target_form(staff, "cardiology", **data))
    assert r.status_code == 400
    assert message in r.text.replace("&#39;", "'")
    assert f'value="{data["ack_urgent"]}"' in r.text  # what was typed stays
    assert ok(await staff.get("/api/v1/specialties")) == before


@pytest.mark.parametrize("who", ["gp", "derm", "admin"])
async def test_only_staff_see_targets_and_worklist_pages(
        client_for: ClientFor, personas: Personas, who: str) -> None:
    client = await client_for(getattr(personas, who))
    for path in ("/targets", "/worklist", "/worklist?fragment=rows"):
        assert (await client.get(path)).status_code == 404


async def test_audit_page_filters_verifies_exports_and_records_each_look(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    ok(await gp.get(f"/api/v1/consults/{cid}"))
    staff = await client_for(personas.staff)
    page = await staff.get("/audit")
    assert page.status_code == 200
    assert re.search(r"Chain verified: all [\d,]+ entries are intact", page.text)
    assert FORM["patient_name"] not in page.text
    r = await staff.get(f"/audit?consult={cid}")
    actions = re.findall(r"<td>(consult\.[a-z_.]+)</td>", r.text)
    assert sorted(actions) == ["consult.submit", "consult.view"]
    r = await staff.get(f"/audit?person={personas.gp.email}&action=consult")
    assert set(re.findall(r"<td>(consult\.[a-z_.]+)</td>", r.text)) == {
        "consult.submit", "consult.view"}
    r = await staff.get("/audit?action=audit.view")
    assert r.text.count("<td>audit.view</td>") == 3  # the looks before this one
    r = await staff.get("/audit?from=2026-03-03")
    assert "No entries match." in r.text
    assert (await staff.get("/audit?from=soon")).status_code == 400
    export = await staff.get(f"/audit.csv?consult={cid}")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][:5] == ["id", "at", "actor_id", "actor_email", "action"]
    assert [row[4] for row in rows[1:]] == ["consult.submit", "consult.view"]
    async with db.read() as session:
        looks = (await session.execute(select(col(AuditEvent.detail)).where(
            col(AuditEvent.action).in_(["audit.view", "audit.export"]),
            col(AuditEvent.actor_id) == personas.staff.id))).scalars().all()
    assert f"object={cid}" in looks and "action=audit.view" in looks
    admin = await client_for(personas.admin)
    assert (await admin.get("/audit")).status_code == 200
    for who in (personas.gp, personas.derm):
        assert (await (await client_for(who)).get("/audit")).status_code == 404
        assert (await (await client_for(who)).get("/audit.csv")).status_code == 404


async def _edit(db: Database, which: str) -> int:
    async with db.write() as session:
        order = col(AuditEvent.id).desc() if which == "last" else col(AuditEvent.id)
        row = (await session.execute(select(AuditEvent).order_by(order))).scalars().first()
        assert row is not None
        await session.execute(update(AuditEvent).where(col(AuditEvent.id) == row.id)
                              .values(detail="edited"))
        return int(row.id or 0)


async def test_the_audit_page_says_when_the_chain_is_broken(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    staff = await client_for(personas.staff)
    page = await staff.get("/audit")
    assert "Chain verified: all 0 entries" in page.text  # the first look rehashes it all
    assert "last rehashed Mon 02 Mar 2026 09:00" in page.text
    edited = await _edit(db, "last")  # the entry of that look: new since the last check
    page = await staff.get("/audit")
    assert f"Chain broken at entry {edited}" in page.text


async def test_an_old_entry_edited_is_found_by_the_next_full_check(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    staff = await client_for(personas.staff)
    for _ in range(3):
        await staff.get("/audit")
    edited = await _edit(db, "first")
    page = await staff.get("/audit")
    assert "Chain verified" in page.text  # only entries since the last check are rehashed
    clock.advance(timedelta(hours=1))
    staff = await client_for(personas.staff)  # the old session idled out meanwhile
    page = await staff.get("/audit")  # due: the full check starts in the background
    for _ in range(100):
        if f"Chain broken at entry {edited}" in page.text:
            break
        await asyncio.sleep(0.05)
        page = await staff.get("/audit")
    assert f"Chain broken at entry {edited}" in page.text


async def test_audit_csv_cells_cannot_run_as_formulas(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    admin = await client_for(personas.admin)
    csrf = admin.headers.pop("X-CSRF-Token")
    r = await admin.post(f"/admin/users/{personas.gp.id}", data={
        "csrf_token": csrf, "action": "update", "name": "=HYPERLINK(\"http://x\")",
        "role": "gp"})
    assert r.status_code == 303
    async with db.write() as session:
        await session.execute(update(AuditEvent).where(
            col(AuditEvent.action) == "user.update").values(actor_email="=cmd|' /C calc'!A0"))
    staff = await client_for(personas.staff)
    export = (await staff.get("/audit.csv?action=user.update")).text
    assert "'=cmd" in export and "\n=cmd" not in export
