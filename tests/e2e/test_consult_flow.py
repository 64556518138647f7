"""The three working surfaces in a real browser against a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Server, Site, jpeg
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


def login(browser: Any, site: Site, email: str, *, width: int = 1100) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page: Page = context.new_page()
    page.goto(f"{site.server.url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def live(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-live", "online", timeout=5000)


def test_gp_and_specialist_work_a_dermatology_consult_live(
    browser: Any, site: Site, artifacts: Path, tmp_path: Path
) -> None:
    p = site.personas
    derm = login(browser, site, p.derm.email)
    derm.goto(f"{site.server.url}/queue")
    live(derm)
    expect(derm.locator("#queue-empty")).to_be_visible()
    derm.evaluate("window.__sameQueuePage = true")  # gone if the page ever reloads
    derm.screenshot(path=str(artifacts / "queue-empty.png"), full_page=True)

    gp = login(browser, site, p.gp.email, width=360)  # a phone
    gp.goto(f"{site.server.url}/consults/new")
    gp.select_option("#specialty", "dermatology")
    gp.select_option("#urgency", "semi_urgent")
    gp.fill("#patient_name", "Pat Browser")
    gp.fill("#patient_dob", "1961-07-15")
    gp.fill("#patient_health_number", "9123 456 789")
    gp.fill("#question", "Changing pigmented lesion on the back; is this melanoma?")
    gp.fill("#body_site", "upper back")
    gp.fill("#duration", "4 months")
    gp.fill("#lesion_description", "8 mm, irregular border, two colours")
    gp.select_option("#fitzpatrick", "II")
    for slot, seed in (("overview", 1), ("close_up", 2)):
        path = tmp_path / f"{slot}.jpg"
        path.write_bytes(jpeg(seed))
        gp.set_input_files(f"#photo-{slot}-file", str(path))
        expect(gp.locator(f'.photo-slot[data-slot="{slot}"] .preview')).to_be_visible()
    gp.screenshot(path=str(artifacts / "consult-form.png"), full_page=True)
    gp.click("#submit-consult")
    expect(gp.locator("#consult-sent")).to_be_visible(timeout=10_000)
    # Each photo was uploaded once, into the draft, with real progress events.
    assert gp.locator('.photo-slot[data-slot="overview"] .checking progress').evaluate(
        "n => n.value") == 100
    expect(gp.locator("#sent-to")).to_contain_text(p.derm.name)
    expect(gp.locator("#sent-due")).to_contain_text("Answer due by")
    gp.screenshot(path=str(artifacts / "consult-sent.png"), full_page=True)
    link = gp.locator("#sent-link").get_attribute("href")
    assert link is not None
    cid = link.rsplit("/", 1)[1]

    # The specialist's open queue shows it live: the same page, never reloaded.
    row = derm.locator(f'li.qrow[data-id="{cid}"]')
    expect(row).to_be_visible(timeout=10_000)
    assert derm.evaluate("window.__sameQueuePage === true")
    expect(row.locator(".patient")).to_have_text("Pat Browser", timeout=3000)
    expect(row.locator(".countdown")).to_contain_text("left")
    derm.screenshot(path=str(artifacts / "queue.png"), full_page=True)

    gp.click("#sent-link")
    live(gp)
    expect(gp.locator(".thumb")).to_have_count(2)
    derm.click(f'li.qrow[data-id="{cid}"] a')
    live(derm)
    derm.click("#ack-form button")
    expect(derm.locator("#state-badge")).to_have_text("In review")
    derm.select_option("#message-kind", "clarification_request")
    derm.fill("#message-body", "Has it bled or itched? Any family history of melanoma?")
    derm.click("#message-form button[type=submit]")

    # The GP's open thread shows the question live.
    expect(gp.locator("#messages")).to_contain_text("Has it bled", timeout=3000)
    expect(gp.locator("#state-badge")).to_have_text("Clarification requested")
    expect(gp.locator("#reply-label")).to_have_text("Answer the clarification")
    gp.fill("#reply-body", "No bleeding; mother had melanoma at 50.")
    more = tmp_path / "more.jpg"
    more.write_bytes(jpeg(3))
    gp.set_input_files("#reply-images", str(more))
    gp.click("#reply-form button[type=submit]")
    expect(derm.locator("#messages")).to_contain_text("mother had melanoma", timeout=3000)
    expect(derm.locator(".message .thumb")).to_have_count(1)

    derm.select_option("#message-kind", "answer")
    derm.fill("#message-body", "Please refer for excision; suspicious features.")
    derm.click("#message-form button[type=submit]")
    expect(derm.locator('.field-error[data-field="minutes"]')).to_be_visible()
    derm.fill("#minutes", "15")
    derm.click("#message-form button[type=submit]")
    expect(gp.locator("#state-badge")).to_have_text("Answered", timeout=3000)
    expect(gp.locator("#messages")).to_contain_text("refer for excision")
    derm.screenshot(path=str(artifacts / "thread-specialist.png"), full_page=True)

    gp.locator(".thumb").first.click()
    expect(gp.locator("#photo-viewer")).to_be_visible()
    gp.click('[data-zoom="in"]')
    gp.screenshot(path=str(artifacts / "photo-viewer.png"))
    gp.click("[data-close]")

    gp.select_option("#outcome", "referral_now_planned")
    gp.check('input[name="usefulness"][value="5"]')
    gp.fill("#close-comment", "Clear and quick.")
    gp.click("#close-form button[type=submit]")
    expect(gp.locator("#state-badge")).to_have_text("Closed", timeout=3000)
    expect(gp.locator("#no-actions")).to_be_visible()
    gp.screenshot(path=str(artifacts / "thread-gp.png"), full_page=True)
    expect(derm.locator("#state-badge")).to_have_text("Closed", timeout=3000)

    derm.goto(f"{site.server.url}/queue")
    expect(derm.locator(f'li.qrow[data-id="{cid}"]')).to_have_count(0)
    gp.goto(f"{site.server.url}/consults")
    expect(gp.locator(f'tr[data-id="{cid}"] .state')).to_have_text("Closed")
    gp.screenshot(path=str(artifacts / "my-consults.png"), full_page=True)


def test_a_cross_origin_websocket_is_refused(browser: Any, site: Site) -> None:
    page = login(browser, site, site.personas.derm.email)
    page.goto(f"{site.server.url}/queue")
    live(page)  # our own page connects with the same cookie
    other = f"http://127.0.0.1:{site.server.port + 1 if site.server.port < 65535 else 1}"
    # Same site (host), other origin (port): the session cookie goes along, so only the
    # Origin check stands between this page and the specialist's events.
    page.route(f"{other}/", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>other</title>"))
    page.goto(f"{other}/")
    outcome = page.evaluate("""url => new Promise(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve("open");
        ws.onclose = (e) => resolve("closed " + e.code);
    })""", f"ws://127.0.0.1:{site.server.port}/ws")
    assert outcome.startswith("closed"), outcome


def test_a_page_catches_up_on_events_missed_while_the_server_restarted(
    browser: Any, site: Site, artifacts: Path
) -> None:
    page = login(browser, site, site.personas.derm.email)
    page.goto(f"{site.server.url}/queue")
    live(page)
    site.server.stop()
    expect(page.locator("#live-status")).to_contain_text("Offline", timeout=5000)
    page.screenshot(path=str(artifacts / "queue-offline.png"))

    # While the page's server is down, a consult arrives through another instance.
    other = Server(site.settings, site.server.port + 1)
    other.start()
    try:
        with httpx.Client(base_url=other.url) as client:
            r = client.post("/api/v1/auth/login",
                            json={"email": site.personas.gp.email, "password": PASSWORD})
            assert r.status_code == 200, r.text
            csrf = r.json()["csrf_token"]
            r = client.post("/api/v1/consults", headers={"X-CSRF-Token": csrf}, data={
                "specialty": "dermatology", "urgency": "routine",
                "question": "Itchy plaque on the elbow for a year.",
                "patient_name": "Missed Event", "patient_dob": "1980-01-01",
                "patient_health_number": "1234 567 890"},
                files=[("images", ("a.jpg", jpeg(5), "image/jpeg"))])
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
    finally:
        other.stop()
    assert page.locator(f'li.qrow[data-id="{cid}"]').count() == 0

    site.server.start()
    expect(page.locator(f'li.qrow[data-id="{cid}"]')).to_be_visible(timeout=20_000)
    expect(page.locator("#live-status")).to_be_hidden()
    expect(page.locator(f'li.qrow[data-id="{cid}"] .patient')).to_have_text("Missed Event")
