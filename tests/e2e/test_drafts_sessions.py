"""Work is never lost, in Chromium: the consult form is a server-side draft as it is
typed, its photos are uploaded once into it (HEIC previewed by the server), and a
session that ends (logout in another tab, or idle) is signed in again in place, the
form as it was and the Send the person pressed going through, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from econsult.config import Settings
from tests.conftest import free_port
from tests.e2e.conftest import Server, Site, in_thread, jpeg, seed_site
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e

HEIC = Path("/work/shared/testdata/images/phones/pug.heic")
if not HEIC.exists():  # the shared test data beside the project
    HEIC = Path(__file__).resolve().parents[3] / "shared/testdata/images/phones/pug.heic"


def _site(settings: Settings) -> Iterator[Site]:
    personas = in_thread(lambda: asyncio.run(seed_site(settings)))
    server = Server(settings, free_port())
    server.start()
    yield Site(server, settings, personas)
    server.stop()


@pytest.fixture
def quick_site(settings: Settings) -> Iterator[Site]:
    """Sessions idle out after one minute: the warning comes 30 s before."""
    yield from _site(settings.with_(session_idle_minutes=1))


def new_context(browser: Any) -> BrowserContext:
    context: BrowserContext = browser.new_context(viewport={"width": 1100, "height": 900})
    return context


def login(context: BrowserContext, site: Site, email: str) -> Page:
    page = context.new_page()
    page.goto(f"{site.server.url}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


FORM = {
    "#patient_name": "Rosalind Draftwell",
    "#patient_dob": "1964-03-09",
    "#patient_health_number": "9011 222 333",
    "#question": "Scaly plaque on the shin for six months, not settling; psoriasis or BCC?",
    "#body_site": "left shin",
    "#duration": "6 months",
}


def type_consult(page: Page, site: Site, tmp_path: Path) -> None:
    page.goto(f"{site.server.url}/consults/new")
    page.select_option("#specialty", "dermatology")
    for selector, value in FORM.items():
        page.fill(selector, value)
    photo = tmp_path / "overview.jpg"
    photo.write_bytes(jpeg(3))
    page.set_input_files("#photo-overview-file", str(photo))
    expect(page.locator('.photo-slot[data-slot="overview"] .preview')).to_be_visible(
        timeout=15_000)
    expect(page.locator("#draft-status")).to_contain_text("Draft saved", timeout=10_000)
    assert "?draft=" in page.url


def expect_form_intact(page: Page) -> None:
    for selector, value in FORM.items():
        expect(page.locator(selector)).to_have_value(value)
    expect(page.locator('.photo-slot[data-slot="overview"] .preview')).to_be_visible()


HISTORY = {"history": "no family history of skin cancer"}


def check_sent(page: Page, extra: dict[str, str] | None = None) -> str:
    """The consult as the server has it: every field and the photo, and only one."""
    expect(page.locator("#consult-sent")).to_be_visible(timeout=15_000)
    href = page.locator("#sent-link").get_attribute("href") or ""
    cid = href.rsplit("/", 1)[1]
    detail = page.evaluate("""async (id) => {
        const r = await fetch(`/api/v1/consults/${id}`, {headers: {Accept: "application/json"}});
        return r.json(); }""", cid)
    assert detail["patient"]["name"] == FORM["#patient_name"]
    assert detail["patient"]["health_number"] == FORM["#patient_health_number"]
    assert detail["question"] == FORM["#question"]
    assert detail["details"] == {"body_site": "left shin", "duration": "6 months",
                                 **(extra or {})}
    assert [i["label"] for i in detail["images"]] == ["overview"]
    listed = page.evaluate("""async () => {
        const r = await fetch("/api/v1/consults", {headers: {Accept: "application/json"}});
        return (await r.json()).consults.map((c) => c.id); }""")
    assert listed == [cid]
    return cid


def log_out_elsewhere(context: BrowserContext, site: Site) -> None:
    """The session is ended from outside this page (another device's "sign out", or a
    logout no tab of this browser announces): the page learns of it at its next request."""
    csrf = context.request.get(f"{site.server.url}/api/v1/me").json()["csrf_token"]
    response = context.request.post(f"{site.server.url}/api/v1/auth/logout",
                                    headers={"X-CSRF-Token": csrf,
                                             "Origin": site.server.url})
    assert response.status == 204


def test_the_session_ends_then_send_signs_in_in_place_and_goes_through_once(
        browser: Any, site: Site, tmp_path: Path, artifacts: Path) -> None:
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    page.evaluate("window.__samePage = true")  # gone if the page ever reloads
    log_out_elsewhere(context, site)

    page.click("#submit-consult")
    dialog = page.locator("#session-signin")
    expect(dialog).to_be_visible(timeout=10_000)
    expect(page.locator("#signin-email")).to_have_value(site.personas.gp.email)
    expect_form_intact(page)
    page.screenshot(path=str(artifacts / "session-signin.png"), full_page=True)
    page.fill("#signin-password", "wrong password")
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_contain_text("incorrect")
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    expect(dialog).to_be_hidden(timeout=20_000)  # argon2 on a busy machine
    check_sent(page)  # the Send that was refused went through, once
    assert page.evaluate("window.__samePage === true")
    # The page's scripts use the new session's token from now on.
    assert page.evaluate("""async () => (await fetch("/api/v1/session/keepalive", {
        method: "POST", headers: {"X-CSRF-Token": document.body.dataset.csrf}})).status""") == 200
    context.close()


def test_a_logout_in_another_tab_asks_to_sign_in_here_at_once(
        browser: Any, site: Site, tmp_path: Path) -> None:
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    other = context.new_page()
    other.goto(f"{site.server.url}/consults")
    other.click("form.logout button")
    other.wait_for_url(lambda url: "/login" in url)
    other.close()

    dialog = page.locator("#session-signin")
    expect(dialog).to_be_visible(timeout=10_000)  # without waiting for a click here
    expect_form_intact(page)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    expect(dialog).to_be_hidden(timeout=20_000)  # argon2 on a busy machine
    page.fill("#history", HISTORY["history"])
    page.click("#submit-consult")
    check_sent(page, HISTORY)
    context.close()


def test_signed_in_again_elsewhere_the_stale_token_is_replaced_without_asking(
        browser: Any, site: Site, tmp_path: Path) -> None:
    """The issue's case: logged out, logged in again in another tab; Send used to answer
    "Missing or invalid CSRF token; reload the page" and the reload emptied the form."""
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    before = page.evaluate("document.body.dataset.csrf")
    other = context.new_page()
    other.goto(f"{site.server.url}/consults")
    other.click("form.logout button")
    other.wait_for_url(lambda url: "/login" in url)
    other.fill("#email", site.personas.gp.email)
    other.fill("#password", PASSWORD)
    other.click("button[type=submit]")
    other.wait_for_url(lambda url: "/login" not in url)

    # Whether or not this tab noticed the logout in between, the new session's token is
    # taken over from the other tab and nothing is asked.
    page.wait_for_function("(before) => document.body.dataset.csrf !== before", arg=before,
                           timeout=10_000)
    expect(page.locator("#session-signin")).to_be_hidden(timeout=15_000)
    page.fill("#history", HISTORY["history"])
    page.click("#submit-consult")
    check_sent(page, HISTORY)
    # The other tab's plain forms and this one's agree on the session.
    assert page.evaluate("document.body.dataset.csrf") == other.evaluate(
        "document.body.dataset.csrf")
    context.close()


def test_a_stale_token_alone_is_replaced_on_the_next_request(
        browser: Any, site: Site, tmp_path: Path) -> None:
    """No other tab to say so (signed in again from elsewhere): the 403 for the old
    token is answered from /api/v1/me and the request retried, without a dialog."""
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    log_out_elsewhere(context, site)
    response = context.request.post(f"{site.server.url}/api/v1/auth/login", data={
        "email": site.personas.gp.email, "password": PASSWORD},
        headers={"Origin": site.server.url})
    assert response.ok
    page.fill("#history", HISTORY["history"])
    page.click("#submit-consult")
    check_sent(page, HISTORY)
    expect(page.locator("#session-signin")).to_have_count(0)
    context.close()


def test_a_draft_survives_closing_the_tab_and_resumes_with_its_photo(
        browser: Any, site: Site, tmp_path: Path, artifacts: Path) -> None:
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    page.close()

    page = context.new_page()
    page.goto(f"{site.server.url}/consults")
    row = page.locator("#drafts .draft-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(FORM["#patient_name"])
    expect(row).to_contain_text("1 photo")
    page.screenshot(path=str(artifacts / "drafts-list.png"), full_page=True)
    row.get_by_role("link", name="Resume").click()
    page.wait_for_url(lambda url: "/consults/new?draft=" in url)
    expect(page.locator("#draft-status")).to_contain_text("Draft restored")
    expect_form_intact(page)
    assert page.locator('.photo-slot[data-slot="overview"] .preview').evaluate(
        "img => img.naturalWidth") > 0
    # Reloading the page resumes it too: the form never empties itself.
    page.fill("#duration", "7 months")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved", timeout=10_000)
    page.reload()
    expect(page.locator("#duration")).to_have_value("7 months")

    # Discard from the list: gone, with its photo.
    page.goto(f"{site.server.url}/consults")
    page.once("dialog", lambda d: d.accept())
    page.locator("#drafts .discard-draft").click()
    expect(page.locator("#drafts .draft-row")).to_have_count(0)
    expect(page.locator("#drafts")).to_be_hidden()
    context.close()


def test_a_heic_photo_is_previewed_before_sending(
        browser: Any, site: Site, artifacts: Path) -> None:
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    page.goto(f"{site.server.url}/consults/new")
    page.select_option("#specialty", "dermatology")
    page.evaluate("""() => {
        const slot = document.querySelector('.photo-slot[data-slot="close_up"]');
        const checking = slot.querySelector(".checking");
        new MutationObserver(() => {
            if (!checking.hidden) window.__sawChecking = checking.textContent.trim();
        }).observe(checking, {attributes: true, childList: true, subtree: true});
    }""")
    page.set_input_files("#photo-close_up-file", str(HEIC))
    preview = page.locator('.photo-slot[data-slot="close_up"] .preview')
    expect(preview).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__sawChecking || ''").endswith("…")
    src = preview.get_attribute("src") or ""
    assert src.startswith("/api/v1/drafts/") and src.endswith("/preview")
    assert preview.evaluate("img => img.complete && img.naturalWidth") > 0
    expect(page.locator('.photo-slot[data-slot="close_up"] .photo-name')).to_contain_text(
        "4032")
    expect(page.locator('.photo-slot[data-slot="close_up"] .checking')).to_be_hidden()
    page.screenshot(path=str(artifacts / "heic-preview.png"), full_page=True)
    context.close()


def test_the_idle_warning_and_stay_signed_in_then_the_in_place_sign_in(
        browser: Any, quick_site: Site) -> None:
    """One-minute sessions: the live socket stays connected (a background socket is not
    activity), the warning comes 30 s before the end, "Stay signed in" keeps the session
    past its first end, and when it lapses the page asks to sign in again in place."""
    site = quick_site
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    page.goto(f"{site.server.url}/consults")
    expect(page.locator("body")).to_have_attribute("data-live", "online", timeout=10_000)
    page.evaluate("window.__samePage = true")
    warning = page.locator("#session-warning")
    expect(warning).to_be_visible(timeout=45_000)
    expect(warning).to_contain_text("signed out in 0:")
    page.click("#stay-signed-in")
    expect(warning).to_be_hidden()
    page.wait_for_timeout(35_000)  # past where the session would have ended
    status = page.evaluate("""async () => (await fetch("/api/v1/session",
        {headers: {"X-Econsult-Background": "1"}})).status""")
    assert status == 200
    expect(page.locator("#session-signin")).to_have_count(0)
    # Now left alone: it ends, and the page offers to sign in where it is.
    dialog = page.locator("#session-signin")
    expect(dialog).to_be_visible(timeout=45_000)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    expect(dialog).to_be_hidden(timeout=20_000)  # argon2 on a busy machine
    expect(page.locator("body")).to_have_attribute("data-session", "live")
    assert page.evaluate("window.__samePage === true")
    context.close()


def test_a_second_step_code_is_asked_in_place_too(
        browser: Any, site: Site, tmp_path: Path) -> None:
    """Where a second factor is required, the password answers {mfa_required, methods}:
    the dialog asks for the code and completes the login at /auth/mfa/verify with the
    pending session's token. (The server side is stood in for here: this checks what
    the page sends and that the refused Send then goes through.)"""
    context = new_context(browser)
    page = login(context, site, site.personas.gp.email)
    type_consult(page, site, tmp_path)
    log_out_elsewhere(context, site)
    seen: dict[str, Any] = {}

    def password_step(route: Any) -> None:
        seen["login"] = route.request.post_data_json
        route.fulfill(status=200, content_type="application/json",
                      body='{"mfa_required": true, "methods": ["totp", "recovery_code"], '
                           '"csrf_token": "pending-token"}')

    def code_step(route: Any) -> None:
        seen["verify"] = (route.request.post_data_json,
                          route.request.headers.get("x-csrf-token"))
        real = context.request.post(f"{site.server.url}/api/v1/auth/login", data={
            "email": site.personas.gp.email, "password": PASSWORD},
            headers={"Origin": site.server.url})
        route.fulfill(status=200, content_type="application/json", body=real.text())

    page.route("**/api/v1/auth/login", password_step)
    page.route("**/api/v1/auth/mfa/verify", code_step)
    page.click("#submit-consult")
    expect(page.locator("#session-signin")).to_be_visible(timeout=10_000)
    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    expect(page.locator("#signin-code")).to_be_visible()
    page.fill("#signin-code", "123456")
    page.click("#signin-submit")
    expect(page.locator("#session-signin")).to_be_hidden(timeout=20_000)
    check_sent(page)
    assert seen["login"] == {"email": site.personas.gp.email, "password": PASSWORD}
    assert seen["verify"] == ({"code": "123456"}, "pending-token")
    context.close()
