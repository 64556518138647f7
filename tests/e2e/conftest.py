"""Browser tests: a real uvicorn on 127.0.0.1 and Debian's Chromium through Playwright.

Everything here is synchronous (Playwright's sync API must not run inside an event
loop); the server runs its own loop in a thread and can be stopped and started again
on the same port to test reconnection.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn

from econsult.app import create_app
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from tests.conftest import free_port
from tests.factories import Personas, dermatology_on_call, make_personas

CHROMIUM = os.environ.get("ECONSULT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NO_CHROMIUM = "no Chromium at"  # how a browser test's skip reason starts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly, at the end of the run, how many browser tests did not run and how
    to run them: a skip among hundreds of passes is easy to miss."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if NO_CHROMIUM in str(getattr(report, "longrepr", ""))]
    if not skipped:
        return
    terminalreporter.write_sep("=", f"{len(skipped)} browser tests SKIPPED", yellow=True,
                               bold=True)
    terminalreporter.write_line(
        f"{len(skipped)} browser tests (tests/e2e) did not run: there is no Chromium at "
        f"{CHROMIUM}.")
    terminalreporter.write_line(
        "To run them: `sudo apt-get install chromium` (or point ECONSULT_CHROMIUM at a "
        "Chromium binary), then `make test` again, or just the browser tests with "
        "`.venv/bin/pytest tests/e2e`.")

T = TypeVar("T")


class Server:
    """One uvicorn process-in-a-thread; stop() and start() again on the same port."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port,
                                log_level="warning", ws="websockets-sansio", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None


def in_thread(fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread: Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


@dataclass
class Site:
    server: Server
    settings: Settings
    personas: Personas


async def seed_site(settings: Settings) -> Personas:
    db = Database.from_settings(settings)
    try:
        clock = SystemClock()
        personas = await make_personas(db, clock)
        await dermatology_on_call(db, personas, datetime.now(UTC), hours=24)
        return personas
    finally:
        await db.dispose()


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    # The shared fixture: a migrated, seeded database (SQLite file or PostgreSQL).
    personas = in_thread(lambda: asyncio.run(seed_site(settings)))
    server = Server(settings, free_port())
    server.start()
    yield Site(server, settings, personas)
    server.stop()


@pytest.fixture(scope="module")
def browser(template_db: str) -> Iterator[object]:
    # Module scope: Playwright's sync API keeps a loop running in this thread until it
    # stops, which would break the asyncio tests that run after this module.
    # template_db first: it runs Alembic with asyncio.run(), which cannot run once
    # Playwright's loop is running in this thread.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{NO_CHROMIUM} {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def jpeg(seed: int, size: tuple[int, int] = (640, 480)) -> bytes:
    """A small, textured photo-like JPEG (a flat colour would draw blur warnings)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (205, 160, 140))
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], 16):
        shade = (i * 7 + seed * 40) % 120
        draw.line([(i, 0), (size[0] - i, size[1])], fill=(120 + shade, 80, 70), width=3)
    draw.ellipse([size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2], fill=(90, 50, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()
