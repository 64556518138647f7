"""An unanswered consult passes through at_risk to breached, seen live on the staff
dashboard and the specialist's queue (real server, real scheduler, real browser)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import col

from econsult.config import Settings
from econsult.db import Database
from econsult.models import Specialty
from tests.conftest import free_port
from tests.e2e.conftest import Server, Site, in_thread, seed_site
from tests.e2e.test_consult_flow import live, login
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e
RESPOND_SECONDS = 8  # at risk at 75 %: 6 s; breached at 8 s


async def _short_windows(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        async with db.write() as session:
            spec = await session.get(Specialty, "dermatology")
            assert spec is not None
            targets = json.loads(spec.targets)
            targets["urgent"] = {"acknowledge_within": f"PT{RESPOND_SECONDS}S",
                                 "respond_within": f"PT{RESPOND_SECONDS}S",
                                 "business_time": False}
            await session.execute(update(Specialty).where(col(Specialty.slug) == "dermatology")
                                  .values(targets=json.dumps(targets)))
    finally:
        await db.dispose()


@pytest.fixture
def scheduled_site(settings: Settings) -> Iterator[Site]:
    live_settings = settings.with_(scheduler_enabled=True)
    personas = in_thread(lambda: asyncio.run(seed_site(live_settings)))
    in_thread(lambda: asyncio.run(_short_windows(live_settings)))
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


def test_at_risk_then_breached_live_on_dashboard_and_queue(
    browser: Any, scheduled_site: Site, artifacts: Path
) -> None:
    site, p = scheduled_site, scheduled_site.personas
    staff = login(browser, site, p.staff.email, width=1280)
    staff.goto(f"{site.server.url}/dashboard")
    queue = login(browser, site, p.derm.email)
    queue.goto(f"{site.server.url}/queue")
    live(queue)
    at_risk = staff.locator('span.tile-n[data-key="totals"][data-field="at_risk"]')
    breached = staff.locator('span.tile-n[data-key="totals"][data-field="breached"]')
    expect(at_risk).to_have_text("0")
    expect(breached).to_have_text("0")

    gp, derm = _api(site, p.gp.email), _api(site, p.derm.email)
    try:
        created = gp.post("/api/v1/consults", data={
            "specialty": "dermatology", "urgency": "urgent",
            "question": "Rapidly spreading blistering rash since this morning",
            "patient_name": "Pat Example", "patient_dob": "1960-02-03",
            "patient_health_number": "9000 111 222"}, files={"none": ("", b"")})
        assert created.status_code == 201, created.text
        consult_id = created.json()["id"]
        assert derm.post(f"/api/v1/consults/{consult_id}/acknowledge").status_code == 200
    finally:
        gp.close()
        derm.close()

    row = queue.locator(f'[data-id="{consult_id}"]')
    expect(row).to_be_visible(timeout=5000)
    # Deadline, plus the dashboard's refresh throttle (2 s), plus slack for a busy machine.
    expect(at_risk).to_have_text("1", timeout=(RESPOND_SECONDS + 8) * 1000)
    expect(row).to_contain_class("at-risk", timeout=5000)
    expect(breached).to_have_text("1", timeout=(RESPOND_SECONDS + 8) * 1000)
    expect(row).to_contain_class("overdue", timeout=5000)
    staff.screenshot(path=str(artifacts / "dashboard-breached.png"), full_page=True)
    queue.screenshot(path=str(artifacts / "queue-overdue.png"), full_page=True)
