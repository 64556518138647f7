"""A server process that dies (SIGKILL: no shutdown, no goodbye) leaves its deadlines to
the processes still running, which read every deadline from the shared database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.scaleout.conftest import (
    GP,
    STAFF,
    StartServer,
    event_counts,
    login,
    on_call,
    query,
    submit,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
# The survivor learns of deadlines it was not told about on its next pass: at most
# econsult.consults.scheduler.MAX_SLEEP (30 s) after its previous one.
PICKUP_TIMEOUT = 60


async def test_a_killed_server_leaves_its_deadlines_to_the_survivor(
    start_server: StartServer, database_url: str,
) -> None:
    doomed = await start_server()
    survivor = await start_server()
    await on_call(doomed, await login(doomed, STAFF), ack_within="PT4S")
    gp = await login(doomed, GP)
    ids = []
    async with gp.client(doomed) as client:
        for _ in range(4):
            ids.append((await submit(client)).json()["id"])
    doomed.kill()
    killed_at = datetime.now(UTC)
    assert doomed.proc.returncode == -9
    before = await event_counts(database_url, ids)
    assert all("escalated" not in c for c in before.values()), "escalated before the kill"

    async with asyncio.timeout(PICKUP_TIMEOUT):
        while True:
            rows = await query(database_url,
                               "SELECT state FROM consults WHERE id = ANY($1::varchar[])", ids)
            if {r["state"] for r in rows} == {"pooled"}:
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(1)

    counts = await event_counts(database_url, ids)
    assert all(c.get("escalated") == 2 and c.get("pooled") == 1 for c in counts.values()), counts
    first = await query(database_url, "SELECT min(at) AS at FROM consult_events "
                        "WHERE type = 'escalated' AND consult_id = ANY($1::varchar[])", ids)
    assert first[0]["at"] >= killed_at
    assert survivor.proc.poll() is None
