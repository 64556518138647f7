"""A delegate in a real browser: sends a consult for one of their GPs, who sees it as
theirs; another GP's delegate gets the 404 page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from econsult.clock import SystemClock
from econsult.db import Database
from econsult.models import User
from tests.e2e.conftest import Site, in_thread
from tests.e2e.test_consult_flow import login
from tests.factories import make_delegate

pytestmark = pytest.mark.e2e


def _delegates(site: Site) -> tuple[User, User]:
    async def make() -> tuple[User, User]:
        db = Database.from_settings(site.settings)
        try:
            p, clock = site.personas, SystemClock()
            dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                                      gps=(p.gp, p.other_gp))
            olly = await make_delegate(db, clock, email="olly@clinic.example",
                                       name="Olly Other", gps=(p.other_gp,))
            return dee, olly
        finally:
            await db.dispose()

    made: tuple[User, User] = in_thread(lambda: asyncio.run(make()))
    return made


def test_a_delegate_sends_for_their_gp_who_sees_it_as_theirs(browser: Any, site: Site,
                                                             artifacts: Path) -> None:
    p = site.personas
    dee, olly = _delegates(site)
    page = login(browser, site, dee.email)
    assert page.url.endswith("/consults")  # a delegate's home is their GPs' consults
    expect(page.locator("#acting-for")).to_contain_text(p.gp.name)
    page.click('nav a[href="/consults/new"]')
    page.fill("#patient_name", "Pat Relayed")
    page.fill("#patient_dob", "1958-02-11")
    page.fill("#patient_health_number", "9555 444 333")
    page.fill("#question", "New scaly patch on the forearm; Dr Parker asks: biopsy?")
    page.click("#submit-consult")
    # Two GPs: the delegate must say which one (the field's own error, what was typed kept).
    expect(page.locator("#err-gp")).to_have_text("Choose the GP this consult is for.")
    expect(page.locator("#patient_name")).to_have_value("Pat Relayed")
    page.select_option("#gp", p.gp.email)
    page.screenshot(path=str(artifacts / "delegate-form.png"))
    page.click("#submit-consult")
    expect(page.locator("#consult-sent")).to_be_visible(timeout=10_000)
    expect(page.locator("#sent-to")).to_contain_text(f"Sent for {p.gp.name} to {p.derm.name}")
    href = page.locator("#sent-link").get_attribute("href") or ""
    cid = href.rsplit("/", 1)[1]

    gp = login(browser, site, p.gp.email)
    row = gp.locator(f'tr[data-id="{cid}"]')
    expect(row).to_contain_text("Pat Relayed")
    expect(row.locator(".sent-by")).to_have_text("by Dee Lewis")
    page.goto(f"{site.server.url}/consults")
    expect(page.locator(f'tr[data-id="{cid}"] .gp')).to_have_text(p.gp.name)
    page.screenshot(path=str(artifacts / "delegate-consults.png"), full_page=True)
    row.locator("a").click()
    expect(gp.locator("#sent-by")).to_contain_text("Dee Lewis")
    expect(gp.locator("#cancel-form")).to_be_visible()  # the GP's consult: theirs to withdraw

    other = login(browser, site, olly.email)
    answer = other.goto(f"{site.server.url}/consults/{cid}")
    assert answer is not None and answer.status == 404
    expect(other.locator("body")).not_to_contain_text("Pat Relayed")
    other.goto(f"{site.server.url}/consults")
    expect(other.locator(f'tr[data-id="{cid}"]')).to_have_count(0)
