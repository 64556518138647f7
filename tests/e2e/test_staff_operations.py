"""Running the program in a real browser: a target changed on /targets governs the next
consult, which breaches and appears on the staff work list live; staff reassign it and
the receiving specialist's queue shows it without a reload; the rota's gap warning goes
once a shift covers the gap; an admin disables the on-call specialist and what she held
moves."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlmodel import col

from econsult.config import Settings
from econsult.db import Database
from econsult.models import OPEN_STATES, Consult, ConsultEvent, User
from econsult.rota.service import week_start
from tests.conftest import free_port
from tests.e2e.conftest import Server, Site, in_thread, seed_site
from tests.e2e.test_consult_flow import live, login
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e
RESPOND_SECONDS = 8


@pytest.fixture
def scheduled_site(settings: Settings) -> Iterator[Site]:
    live_settings = settings.with_(scheduler_enabled=True)
    personas = in_thread(lambda: asyncio.run(seed_site(live_settings)))
    server = Server(live_settings, free_port())
    server.start()
    yield Site(server, live_settings, personas)
    server.stop()


def _api(site: Site, email: str) -> httpx.Client:
    client = httpx.Client(base_url=site.server.url, timeout=10)
    r = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def _send(gp: httpx.Client, urgency: str = "urgent") -> dict[str, Any]:
    created = gp.post("/api/v1/consults", data={
        "specialty": "dermatology", "urgency": urgency,
        "question": "Rapidly spreading blistering rash since this morning",
        "patient_name": "Pat Example", "patient_dob": "1960-02-03",
        "patient_health_number": "9000 111 222"}, files={"none": ("", b"")})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def _in_db(settings: Settings, query: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database.from_settings(settings)
        try:
            async with db.read() as session:
                return list((await session.execute(query)).all())
        finally:
            await db.dispose()
    return in_thread(lambda: asyncio.run(run()))


def test_target_breach_worklist_reassign_live(browser: Any, scheduled_site: Site,
                                             artifacts: Path) -> None:
    site, p = scheduled_site, scheduled_site.personas
    staff = login(browser, site, p.staff.email, width=1280)
    staff.goto(f"{site.server.url}/targets")
    derm_form = staff.locator("section#dermatology form")
    derm_form.locator('input[name="ack_urgent"]').fill("6 seconds")
    derm_form.locator('input[name="respond_urgent"]').fill(f"{RESPOND_SECONDS} seconds")
    derm_form.locator("button[type=submit]").click()
    expect(staff.locator("section#dermatology .notice")).to_have_text("Dermatology targets saved.")
    expect(staff.locator("section#dermatology input[name=respond_urgent]")).to_have_value(
        f"{RESPOND_SECONDS} seconds")

    queue = login(browser, site, p.derm2.email)
    queue.goto(f"{site.server.url}/queue")
    live(queue)
    staff.goto(f"{site.server.url}/worklist")
    live(staff)

    gp = _api(site, p.gp.email)
    try:
        sent = _send(gp)
    finally:
        gp.close()
    cid = sent["id"]
    # The new consult's deadline follows the target just saved on the page.
    due = datetime.fromisoformat(sent["due_at"]) - datetime.fromisoformat(sent["submitted_at"])
    assert due == timedelta(seconds=RESPOND_SECONDS)

    row = staff.locator(f'#worklist-rows tr[data-id="{cid}"]')
    breached = row.locator('li[data-code="breached"]')
    expect(breached).to_be_visible(timeout=(RESPOND_SECONDS + 10) * 1000)  # live, no reload
    expect(row.locator(".countdown")).to_contain_text("overdue")
    assert "Pat Example" not in staff.content()  # codes and times only
    staff.screenshot(path=str(artifacts / "worklist-breached.png"), full_page=True)

    row.locator("select[name=to]").select_option(p.derm2.email)
    row.locator("input[name=reason]").fill("Covering while Dr Ermine is in clinic")
    row.locator("button[type=submit]").click()
    expect(staff.locator("#worklist-status")).to_have_text("Reassigned")

    arrived = queue.locator(f'li.qrow[data-id="{cid}"]')
    expect(arrived).to_be_visible(timeout=3000)  # the receiving queue, without a reload
    queue.screenshot(path=str(artifacts / "queue-reassigned.png"), full_page=True)
    arrived.locator(".qlink").click()
    timeline = queue.locator("#timeline")
    expect(timeline).to_contain_text("reassigned")
    expect(timeline.locator("li").last).to_contain_text(p.staff.name)

    staff.goto(f"{site.server.url}/consults/{cid}")
    expect(staff.locator("#timeline")).to_contain_text("reassigned")
    assert "Pat Example" not in staff.content()
    assert "blistering" not in staff.content()


def test_rota_gap_then_disable_the_on_call_specialist(browser: Any, site: Site,
                                                     artifacts: Path) -> None:
    p, tz = site.personas, site.settings.timezone
    monday = week_start(datetime.now(tz).date()) + timedelta(days=7)
    api = _api(site, p.staff.email)
    gp = _api(site, p.gp.email)
    try:
        for start, end in ((f"{monday}T00:00", f"{monday}T22:00"),
                           (f"{monday + timedelta(days=1)}T08:00",
                            f"{monday + timedelta(days=7)}T00:00")):
            r = api.post("/api/v1/rota/dermatology/shifts", json={
                "specialist": p.derm2.email, "starts_at": start, "ends_at": end,
                "tier": "primary"})
            assert r.status_code == 201, r.text
        held = [_send(gp, "routine")["id"] for _ in range(2)]
    finally:
        api.close()
        gp.close()

    staff = login(browser, site, p.staff.email, width=1280)
    staff.goto(f"{site.server.url}/rota?specialty=dermatology&week={monday}")
    warning = staff.locator(".gap-uncovered",
                            has_text="urgent dermatology uncovered Mon 22:00–08:00")
    expect(warning).to_be_visible()
    staff.screenshot(path=str(artifacts / "rota-gap.png"), full_page=True)
    form = staff.locator("form.rota-form", has=staff.locator('input[value="add_shift"]'))
    form.locator("select[name=specialist]").select_option(p.derm2.email)
    form.locator("input[name=starts_at]").fill(f"{monday}T22:00")
    form.locator("input[name=ends_at]").fill(f"{monday + timedelta(days=1)}T08:00")
    form.locator("button[type=submit]").click()
    expect(staff.locator(".notice")).to_have_text("Shift added.")
    expect(staff.locator(".gap-uncovered")).to_have_count(0)

    admin = login(browser, site, p.admin.email, width=1280)
    admin.goto(f"{site.server.url}/admin/users")
    admin.locator(f'tr[data-user="{p.derm.id}"] a.disable').click()
    expect(admin.locator("#consults-to-move")).to_contain_text("2 open consults")
    admin.screenshot(path=str(artifacts / "disable-confirm.png"), full_page=True)
    admin.click("#confirm-disable")
    expect(admin.locator(".notice")).to_contain_text("2 open consults went back to routing")

    inactive_holders = _in_db(site.settings, select(col(Consult.id)).join(
        User, col(User.id) == col(Consult.assigned_to)).where(
        col(User.active).is_(False), col(Consult.state).in_([s.value for s in OPEN_STATES])))
    assert inactive_holders == []
    moves = _in_db(site.settings, select(col(ConsultEvent.consult_id)).where(
        col(ConsultEvent.type) == "handed_back"))
    assert sorted(m[0] for m in moves) == sorted(held)
    staff.goto(f"{site.server.url}/consults/{held[0]}")
    expect(staff.locator("#timeline")).to_contain_text("handed back")
    expect(staff.locator("#timeline li").last).to_contain_text(p.admin.name)
    staff.goto(f"{site.server.url}/rota?specialty=dermatology")
    expect(staff.locator(".status-flag").first).to_contain_text("disabled")
