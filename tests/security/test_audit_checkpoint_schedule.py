"""The server writes a signed checkpoint on its own, every interval once the log has
moved (ECONSULT_AUDIT_CHECKPOINT_SECONDS), and none while it has not."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.http.state import app_state
from econsult.ops import audit_keys
from econsult.security import audit
from econsult.security.audit import Actor
from tests.factories import CHEAP_PASSWORDS


async def test_the_server_checkpoints_the_moved_log_on_its_schedule(
    settings: Settings, clock: ManualClock,
) -> None:
    config = settings.with_(audit_checkpoint_seconds=1)
    path = audit_keys.checkpoints_path(config)
    application = create_app(config, clock=clock, passwords=CHEAP_PASSWORDS)
    async with application.router.lifespan_context(application):
        db = app_state(application).db
        await asyncio.sleep(1.5)
        assert not path.exists()  # nothing logged yet: nothing to vouch for
        for i in range(3):
            clock.advance(timedelta(seconds=1))
            async with db.write() as session:
                await audit.append(session, actor=Actor(None, "test"), action="test.row",
                                   at=clock.now(), object_id=str(i))
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.05)
        lines = path.read_text().splitlines()
        assert [json.loads(line)["count"] for line in lines] == [3]
        await asyncio.sleep(1.5)  # the log has not moved: no second line
        assert len(path.read_text().splitlines()) == 1
        result = await audit_keys.verify(db, config)
        assert result.ok and result.rows == 3
