"""The demo seeding a newcomer relies on: accounts that log in, a rota that routes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from econsult.config import Settings
from econsult.db import Database
from econsult.demo.seed import DEMO_PASSWORD, DEMO_USERS, prepare
from econsult.models import DelegateLink, RotaWeekly, User
from econsult.security.passwords import Passwords


async def test_demo_seeds_accounts_and_rota_and_is_rerunnable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "demo")
    lines = await prepare(settings, consults=0)
    assert any(DEMO_PASSWORD in line for line in lines)
    assert sum("@demo.econsult.org" in line for line in lines) == len(DEMO_USERS)
    db = Database.from_settings(settings)
    try:
        async with db.read() as session:
            users = {u.email: u for u in (await session.execute(select(User))).scalars()}
            rota = (await session.execute(select(func.count()).select_from(RotaWeekly))).scalar()
        assert set(users) == {u.email for u in DEMO_USERS}
        assert Passwords().verify(users["gp@demo.econsult.org"].password_hash, DEMO_PASSWORD)
        assert rota and rota > 0
        async with db.read() as session:  # the demo's delegate works for the demo GP
            links = (await session.execute(select(DelegateLink))).scalars().all()
        assert [(link.delegate_id, link.gp_id) for link in links] == [
            (users["clinic@demo.econsult.org"].id, users["gp@demo.econsult.org"].id)]
        again = await prepare(settings, consults=0)  # a second run keeps everything
        assert not any("rota" in line for line in again)
        async with db.read() as session:
            assert (await session.execute(select(func.count()).select_from(User))).scalar() == \
                len(DEMO_USERS)
    finally:
        await db.dispose()
