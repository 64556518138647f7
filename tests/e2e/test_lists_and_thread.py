"""Lists that find anything, and the thread's polish, in Chromium against a real server:
a GP with 1,200 consults reaches the last one, search by health number and by name
prefix, the phone-width list as cards, a reroute's success notice, an addendum under
the answer, a field's error going when the field is fixed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from econsult.clock import format_local
from econsult.db import Database
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring
from tests.bulk_consults import Made, bulk_consults, health_number
from tests.e2e.conftest import Site, in_thread
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

RANK = {"awaiting_gp": 0, "answered": 0, "assigned": 1, "pooled": 1, "in_review": 1,
        "closed": 2, "cancelled": 2}


def login(browser: Any, site: Site, email: str, *, width: int = 1100) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page: Page = context.new_page()
    page.goto(f"{site.server.url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def seed(site: Site, n: int) -> list[Made]:
    async def run() -> list[Made]:
        db = Database.from_settings(site.settings)
        try:
            cipher = FieldCipher(load_keyring(site.settings.master_key, site.settings.key_file))
            return await bulk_consults(db, cipher, gp_id=site.personas.gp.id or 0,
                                       specialist_id=site.personas.derm.id or 0, n=n,
                                       start=datetime.now(UTC))
        finally:
            await db.dispose()
    return in_thread(lambda: asyncio.run(run()))


def send(site: Site, name: str = "Pat Example") -> str:
    """A consult sent by the GP over the API."""
    with httpx.Client(base_url=site.server.url, timeout=10) as gp:
        r = gp.post("/api/v1/auth/login",
                    json={"email": site.personas.gp.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        gp.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return _send(gp, name)


def _send(gp: httpx.Client, name: str) -> str:
    created = gp.post("/api/v1/consults", data={
        "specialty": "dermatology", "urgency": "routine",
        "question": "Pigmented lesion on the back, changed over three months.",
        "patient_name": name, "patient_dob": "1960-02-03",
        "patient_health_number": "9000 111 222"}, files={"none": ("", b"")})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_gp_with_1200_consults_pages_to_the_last_one_and_finds_by_search(
    browser: Any, site: Site, artifacts: Path
) -> None:
    made = seed(site, 1200)
    last = sorted(made, key=lambda m: (RANK[m.state], -m.submitted_at.timestamp(),
                                       "".join(chr(255 - ord(c)) for c in m.id)))[-1]
    gp = login(browser, site, site.personas.gp.email)
    gp.goto(f"{site.server.url}/consults")
    rows = gp.locator("#my-consults tbody tr[data-id]")
    expect(rows).to_have_count(50)
    # Grouped: what needs the GP first.
    expect(gp.locator("tr.group").first).to_have_text("Needs your action")
    for _ in range(30):
        more = gp.locator("#more")
        if not more.is_visible():
            break
        count = rows.count()
        more.click()
        expect(rows).not_to_have_count(count)
    expect(rows).to_have_count(1200)
    expect(gp.locator("#shown-count")).to_have_text("1200 shown; that is all")
    expect(gp.locator(f'tr[data-id="{last.id}"]')).to_be_visible()
    assert gp.locator("tr.group").all_inner_texts() == ["Needs your action", "Open", "Closed"]
    gp.locator(f'tr[data-id="{last.id}"] a').click()
    gp.wait_for_url(f"**/consults/{last.id}")
    expect(gp.locator("h1")).to_contain_text(last.patient_name)

    # Search by health number (typed with spaces) and by the first letters of a name.
    gp.goto(f"{site.server.url}/consults")
    target = made[345]
    number = health_number(345)
    gp.fill("#q", f"{number[:4]} {number[4:7]} {number[7:]}")
    gp.click("form.filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(gp.locator(f'tr[data-id="{target.id}"]')).to_contain_text(target.patient_name)
    first, family = target.patient_name.split()
    gp.fill("#q", f"{first[:3].lower()} {family[:4]}")
    gp.click("form.filters button[type=submit]")
    wanted = {m.id for m in made if m.patient_name == target.patient_name}
    expect(rows).to_have_count(min(len(wanted), 50))
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.id)")) <= wanted
    gp.screenshot(path=str(artifacts / "consults-search.png"), full_page=True)


def test_phone_width_list_shows_cards_and_nothing_is_cut_off(
    browser: Any, site: Site, artifacts: Path
) -> None:
    seed(site, 30)
    gp = login(browser, site, site.personas.gp.email, width=375)
    gp.goto(f"{site.server.url}/consults")
    first = gp.locator("#my-consults tbody tr[data-id]").first
    expect(first).to_be_visible()
    assert first.evaluate("r => getComputedStyle(r).display") == "block"  # a card
    assert gp.locator("table.consult-list thead").evaluate(
        "h => h.getBoundingClientRect().width") <= 1
    assert gp.evaluate("document.documentElement.scrollWidth") <= 375
    for box in gp.locator("#my-consults tbody tr[data-id] td").evaluate_all(
            "cells => cells.map(c => c.getBoundingClientRect().right)"):
        assert box <= 375
    expect(first.locator("td[data-label=Due]")).to_be_visible()
    gp.screenshot(path=str(artifacts / "consults-phone.png"), full_page=True)


def test_reroute_says_where_it_went_and_leaves_nothing_red(
    browser: Any, site: Site, artifacts: Path
) -> None:
    cid = send(site)
    derm = login(browser, site, site.personas.derm.email)
    derm.goto(f"{site.server.url}/consults/{cid}")
    derm.select_option("#reroute-specialty", "cardiology")
    derm.fill("#reroute-reason", "Palpitations, not skin.")
    derm.click("#reroute-form button[type=submit]")
    notice = derm.locator("#thread-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Rerouted to Cardiology")
    expect(notice).to_contain_text("Cardiology pool")
    expect(notice.locator("a[href='/queue']")).to_be_visible()
    derm.wait_for_timeout(500)  # the refresh after it must not turn it into an error
    expect(derm.locator("#thread-error")).to_be_hidden()
    expect(derm.locator("form.action:visible")).to_have_count(0)
    derm.screenshot(path=str(artifacts / "reroute-notice.png"), full_page=True)


def test_addendum_is_shown_under_the_answer_and_errors_clear_when_fixed(
    browser: Any, site: Site, artifacts: Path
) -> None:
    cid = send(site)
    derm = login(browser, site, site.personas.derm.email)
    derm.goto(f"{site.server.url}/consults/{cid}")
    derm.click("#ack-form button[type=submit]")
    expect(derm.locator("#message-form")).to_be_visible()
    derm.select_option("#message-kind", "answer")
    derm.fill("#message-body", "Excise with 2 mm margins.")
    derm.click("#message-form button[type=submit]")
    error = derm.locator('#message-form .field-error[data-field="minutes"]')
    expect(error).to_be_visible()  # minutes are required for an answer
    derm.fill("#minutes", "12")
    expect(error).to_be_hidden()  # fixed: the message goes before sending
    assert derm.locator("#minutes").get_attribute("aria-invalid") is None
    derm.click("#message-form button[type=submit]")
    expect(derm.locator("#addendum-form")).to_be_visible()
    derm.fill("#addendum-body", "Please send me the histology.")
    derm.click("#addendum-form button[type=submit]")
    under = derm.locator(".message.kind-answer .addenda .kind-addendum")
    expect(under).to_contain_text("Please send me the histology.")
    expect(derm.locator("#state-badge")).to_have_text("Answered")
    gp = login(browser, site, site.personas.gp.email)
    gp.goto(f"{site.server.url}/consults/{cid}")
    expect(gp.locator(".message.kind-answer .addenda")).to_contain_text("histology")
    expect(gp.locator("#addendum-form")).to_have_count(0)
    # Closing shows the survey on the page at once.
    gp.select_option("#outcome", "referral_avoided")
    gp.check("input[name=usefulness][value='5']")
    gp.click("#close-form button[type=submit]")
    expect(gp.locator("#survey")).to_be_visible()
    expect(gp.locator("#survey-outcome")).to_have_text("Referral avoided")
    expect(gp.locator("#survey-usefulness")).to_have_text("5 of 5")
    gp.screenshot(path=str(artifacts / "addendum-survey.png"), full_page=True)


def test_server_and_browser_show_the_same_instant_as_the_same_text(
    browser: Any, site: Site
) -> None:
    """Whatever zone data Chromium carries, the page formats from the server's rules:
    the due time on the thread header (server-rendered) and as the page re-renders it
    read the same, and so do instants either side of the 2026 changes."""
    cid = send(site)
    gp = login(browser, site, site.personas.gp.email)
    gp.goto(f"{site.server.url}/consults/{cid}")
    due = gp.locator("#due time")
    server_text, iso = due.inner_text(), due.get_attribute("datetime")
    assert server_text.endswith((" MST", " PDT", " PST"))
    browser_text = gp.evaluate(
        "async (iso) => (await import('/static/js/util.js')).fmtTime(iso, {withZone: true})",
        iso)
    assert browser_text == server_text
    tz = site.settings.timezone
    moments = [datetime(2026, 3, 8, 9, 59, tzinfo=UTC), datetime(2026, 3, 8, 10, 0, tzinfo=UTC),
               datetime(2026, 11, 1, 8, 59, tzinfo=UTC), datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
               datetime(2026, 12, 2, 1, 0, tzinfo=UTC), datetime(2027, 7, 1, 12, 30, tzinfo=UTC),
               datetime(2026, 2, 28, 23, 59, tzinfo=UTC)]
    shown = gp.evaluate(
        "async (isos) => { const u = await import('/static/js/util.js');"
        " return isos.map((i) => u.fmtTime(i, {withZone: true})); }",
        [m.isoformat() for m in moments])
    assert shown == [format_local(m, tz, with_zone=True) for m in moments]
    assert shown[4] == "Tue 01 Dec 2026 18:00 MST"  # not the stale rule's 17:00
    # The timeline, re-rendered by the page after a change, matches the server's too.
    first_event = gp.locator("#timeline time").first
    before = first_event.inner_text()
    with httpx.Client(base_url=site.server.url, timeout=10) as gp_api:
        r = gp_api.post("/api/v1/auth/login",
                        json={"email": site.personas.gp.email, "password": PASSWORD})
        gp_api.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        gp_api.post(f"/api/v1/consults/{cid}/messages", json={"body": "Any news?"})
    expect(gp.locator("#messages")).to_contain_text("Any news?")
    assert gp.locator("#timeline time").first.inner_text() == before
    assert gp.locator("#due time").inner_text() == server_text


def test_a_specialists_tabs_search_and_queue_rows(
    browser: Any, site: Site, artifacts: Path
) -> None:
    made = seed(site, 130)
    derm = login(browser, site, site.personas.derm.email)
    derm.goto(f"{site.server.url}/queue")
    rows = derm.locator("#queue-list > li")
    open_ids = {m.id for m in made if m.state in ("assigned", "in_review", "awaiting_gp",
                                                    "pooled")}
    expect(rows).to_have_count(min(50, len(open_ids)))
    first = rows.first
    expect(first.locator(".gp-name")).to_have_text(site.personas.gp.name)
    expect(first.locator(".age")).to_have_text("66 y")
    expect(first.locator(".photos")).to_have_text("0 photos")
    expect(first.locator(".qpreview")).to_contain_text("Bulk consult number")
    while derm.locator("#more").is_visible():
        count = rows.count()
        derm.click("#more")
        expect(rows).not_to_have_count(count)
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.id)")) == open_ids
    derm.screenshot(path=str(artifacts / "queue-rows.png"), full_page=False)
    # Answered: what they answered stays reachable (answered and closed).
    derm.click("#tab-answered")
    expect(derm.locator("#tab-answered")).to_have_attribute("aria-current", "page")
    answered = {m.id for m in made if m.state in ("answered", "closed")}
    while derm.locator("#more").is_visible():
        count = rows.count()
        derm.click("#more")
        expect(rows).not_to_have_count(count)
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.id)")) == answered
    # All mine, searched by health number.
    derm.click("#tab-all")
    target = made[88]
    derm.fill("#q", health_number(88))
    derm.click(".queue-search button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", target.id)
    expect(rows.first.locator(".patient")).to_have_text(target.patient_name)
