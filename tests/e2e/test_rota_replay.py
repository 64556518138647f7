"""The rota page in a real browser: staff replay the demo rota against the last four
weeks' (demo) arrivals and the page shows the figures once the background run ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.demo import history
from econsult.demo.seed import DEMO_PASSWORD, seed_rota, seed_users
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring
from econsult.turnaround.calendar import program_calendar
from tests.conftest import free_port
from tests.e2e.conftest import Server, in_thread
from tests.factories import CHEAP_PASSWORDS

pytestmark = pytest.mark.e2e


async def _seed_demo(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        ids = await seed_users(db, CHEAP_PASSWORDS)
        await seed_rota(db)
        cipher = FieldCipher(load_keyring(settings.master_key, settings.key_file))
        await history.generate(
            db, n=150, now=SystemClock().now(), cipher=cipher,
            calendar=program_calendar(settings),
            gps=[ids["gp@demo.econsult.org"], ids["gp2@demo.econsult.org"]],
            specialists={"dermatology": [ids["derm1@demo.econsult.org"],
                                         ids["derm2@demo.econsult.org"]]},
            span=timedelta(days=30))
    finally:
        await db.dispose()


@pytest.fixture
def demo_server(settings: Settings) -> Iterator[Server]:
    in_thread(lambda: asyncio.run(_seed_demo(settings)))
    server = Server(settings, free_port())
    server.start()
    yield server
    server.stop()


def test_staff_see_a_replay_of_the_demo_rota(browser: Any, demo_server: Server,
                                            artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{demo_server.url}/login")
    page.fill("#email", "staff@demo.econsult.org")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{demo_server.url}/rota?specialty=dermatology")
    page.click("#replay-start")
    # The run is off the request path: the page comes back at once, shows progress,
    # and swaps in the figures when the poll sees the job done.
    table = page.locator("#replay-result")
    expect(table).to_be_visible(timeout=120_000)
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("urgent")
    expect(page.locator("#replay-summary")).to_contain_text("consults from")
    assert "uncovered" in table.inner_text().lower()
    page.screenshot(path=str(artifacts / f"rota-replay-{datetime.now(UTC):%H%M%S}.png"),
                    full_page=True)
    context.close()
