"""The second factor in a real browser, with MFA required for every role: a specialist
enrols an authenticator app at their first login (the code computed from the secret
the page shows), logs in again with a code, then registers a passkey on /account and
logs in with it through Chromium's virtual authenticator (CDP WebAuthn domain)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from econsult.config import ROLES, Settings
from tests.conftest import free_port
from tests.e2e.conftest import Server, Site, in_thread, seed_site
from tests.factories import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def mfa_site(settings: Settings) -> Iterator[Site]:
    # Passkeys need a host name (not an IP) and a secure context: http://localhost is one.
    port = free_port()
    settings = settings.with_(mfa_required=frozenset(ROLES),
                              public_url=f"http://localhost:{port}")
    personas = in_thread(lambda: asyncio.run(seed_site(settings)))
    server = Server(settings, port)
    server.start()
    yield Site(server, settings, personas)
    server.stop()


def _password(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    expect(page.locator("#mfa-off")).to_have_count(0)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/login/mfa*")


def _logged_in(page: Any, base: str, name: str) -> None:
    page.wait_for_url(lambda url: "/login" not in url, timeout=10_000)
    expect(page.locator(".topbar .who")).to_contain_text(name)


def _log_out(page: Any, base: str) -> None:
    page.click("form.logout button")
    page.wait_for_url(f"{base}/login")


def test_totp_enrolment_then_code_then_passkey(browser: Any, mfa_site: Site,
                                               artifacts: Path) -> None:
    derm = mfa_site.personas.derm
    base = f"http://localhost:{mfa_site.server.port}"
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})["authenticatorId"]

    # First login: the password alone opens nothing; the role requires an app.
    _password(page, base, derm.email)
    page.goto(f"{base}/queue")
    page.wait_for_url(f"{base}/login/mfa")
    page.click("#enrol-start")
    expect(page.locator("#enrol-qr")).to_be_visible()
    assert (page.locator("#qr").get_attribute("src") or "").startswith("data:image/svg+xml")
    # The QR code is drawn (a broken image has no natural width).
    page.wait_for_function("() => document.getElementById('qr').naturalWidth > 0")
    secret = page.locator("#totp-secret").inner_text().strip()
    assert len(secret) == 32
    page.screenshot(path=str(artifacts / "mfa-enrol.png"))
    totp = pyotp.TOTP(secret)
    enrolment_code = totp.now()
    page.fill("#enrol-code", enrolment_code)
    page.click("#enrol-confirm button")
    expect(page.locator("#codes-list li")).to_have_count(10)
    page.click("#continue")
    _logged_in(page, base, derm.name)
    _log_out(page, base)

    # Again with a code: the next step's (the current one was spent at enrolment).
    _password(page, base, derm.email)
    expect(page.locator("#passkey-login")).to_have_count(0)  # none registered yet
    page.fill("#totp-code", enrolment_code)
    page.click("#totp-form button")
    expect(page.locator("#mfa-error")).to_be_visible()  # spent at enrolment: refused
    page.fill("#totp-code", totp.at(time.time() + 30))
    page.click("#totp-form button")
    _logged_in(page, base, derm.name)

    # A passkey, the stronger option, registered on /account.
    page.goto(f"{base}/account")
    page.fill("#passkey-name", "Virtual authenticator")
    page.click("#passkey-add button")
    expect(page.locator("#mfa-notice")).to_have_text("Passkey added.")
    page.reload()
    expect(page.locator("#passkeys")).to_contain_text("Virtual authenticator")
    page.screenshot(path=str(artifacts / "mfa-account.png"), full_page=True)
    _log_out(page, base)

    _password(page, base, derm.email)
    page.click("#passkey-login")
    _logged_in(page, base, derm.name)
    held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(held["credentials"]) == 1 and held["credentials"][0]["signCount"] >= 1
    context.close()
