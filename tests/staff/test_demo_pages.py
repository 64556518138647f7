"""With `econsult demo` data, staff can open the pages that run the program, and see
no patient data on them; the demo rota shows its uncovered nights."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.app import create_app
from econsult.config import Settings
from econsult.demo.seed import prepare
from econsult.http.state import app_state
from econsult.models import User
from tests.conftest import TEST_MASTER_KEY
from tests.factories import CHEAP_PASSWORDS, session_for


async def test_demo_data_renders_for_staff(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "demo", master_key=TEST_MASTER_KEY,
                        scheduler_enabled=False, image_pool="thread")
    await prepare(settings, consults=300, passwords=CHEAP_PASSWORDS)
    app = create_app(settings, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        state = app_state(app)
        async with state.db.read() as db:
            staff = (await db.execute(select(User).where(
                col(User.email) == "staff@demo.econsult.org"))).scalar_one()
        token, csrf = await session_for(state.db, staff, state.clock, state.settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            client.cookies.set(settings.session_cookie_name, token)
            pages = {path: await client.get(path)
                     for path in ("/worklist", "/targets", "/audit", "/rota", "/dashboard",
                                  "/api/v1/worklist")}
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.text[:500])
        # Demo patients are "Alex Nguyen" and the like; their questions are "Synthetic
        # demo consult #...": neither may appear.
        assert "Synthetic demo consult" not in page.text
        assert not re.search(r"\b(Alex|Jordan|Taylor) (Nguyen|Smith|Singh)\b", page.text)
    assert pages["/api/v1/worklist"].json()["consults"], "the demo has open consults to list"
    assert "Chain verified" in pages["/audit"].text
    assert "urgent dermatology uncovered Mon 22:00–08:00" in pages["/rota"].text
    assert 'name="ack_urgent" value="30 minutes"' in pages["/targets"].text
