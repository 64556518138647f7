"""`econsult serve --workers 2` on PostgreSQL: events cross worker processes over
LISTEN/NOTIFY, and deadlines are claimed once however many schedulers see them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.scaleout.conftest import (
    DERM1,
    GP,
    STAFF,
    StartServer,
    client_port,
    event_counts,
    login,
    on_call,
    query,
    submit,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CONSULTS = 6
ATTEMPTS = 24


async def test_an_event_published_on_one_worker_reaches_a_websocket_on_the_other(
    start_server: StartServer, database_url: str,
) -> None:
    server = await start_server(workers=2)
    await on_call(server, await login(server, STAFF))
    gp, derm = await login(server, GP), await login(server, DERM1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in derm.cookies.jar)
    async with connect(f"ws://127.0.0.1:{server.port}/ws", additional_headers={
            "Cookie": cookie, "Origin": server.base_url}) as ws:
        ws_worker = server.owner_of(ws.local_address[1])
        assert ws_worker in server.worker_pids()
        crossed: list[float] = []
        for _ in range(ATTEMPTS):
            async with gp.client(server) as client:
                sent = time.monotonic()
                response = await submit(client, urgency="routine")
                submit_worker = server.owner_of(client_port(response))
            assert submit_worker in server.worker_pids()
            latency = await _until_heard(ws, response.json()["id"], sent)
            if submit_worker != ws_worker:
                crossed.append(latency)
                if len(crossed) >= 3:
                    break
    assert crossed, f"no submission of {ATTEMPTS} landed on the other worker"
    assert max(crossed) < 1.0, crossed


async def _until_heard(ws: ClientConnection, consult_id: str, sent: float) -> float:
    try:
        async with asyncio.timeout(5):
            while True:
                event = json.loads(await ws.recv())
                if event.get("consult_id") == consult_id:
                    assert event["type"] == "submitted" and "patient_name" not in event
                    return time.monotonic() - sent
    except TimeoutError:
        pytest.fail(f"the WebSocket never heard of consult {consult_id} (5 s); the "
                    f"consult_events row must store its audience (_groups) for "
                    f"LISTEN/NOTIFY peers to deliver it")


async def test_two_workers_escalate_each_deadline_exactly_once(
    start_server: StartServer, database_url: str,
) -> None:
    server = await start_server(workers=2)
    await on_call(server, await login(server, STAFF), ack_within="PT2S")
    gp = await login(server, GP)
    # Submit over new connections until both workers hold some consults: each worker's
    # scheduler then wakes at these deadlines, so both race for every claim.
    ids: list[str] = []
    by_worker: dict[int, int] = {}
    for _ in range(ATTEMPTS):
        async with gp.client(server) as client:
            response = await submit(client)
            worker = server.owner_of(client_port(response))
        assert worker is not None
        by_worker[worker] = by_worker.get(worker, 0) + 1
        ids.append(response.json()["id"])
        if len(ids) >= CONSULTS and len(by_worker) == 2:
            break
    assert len(by_worker) == 2, f"every connection went to one worker: {by_worker}"

    # derm1 does not acknowledge: after 2 s each consult goes to derm2 (the backup), and
    # after 2 s more, with nobody left to try, to the pool. Two deadlines per consult.
    async with asyncio.timeout(30):
        while True:
            states = {r["state"] for r in await query(
                database_url, "SELECT state FROM consults WHERE id = ANY($1::varchar[])", ids)}
            if states == {"pooled"}:
                break
            await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # let any duplicate claim that was in flight land

    counts = await event_counts(database_url, ids)
    for consult_id in ids:
        assert counts[consult_id].get("escalated") == 2, (consult_id, counts[consult_id])
        assert counts[consult_id].get("pooled") == 1, (consult_id, counts[consult_id])
    rows = await query(database_url, "SELECT c.id, c.escalations, count(a.id) AS audited "
                       "FROM consults c LEFT JOIN audit_events a ON a.object_id = c.id "
                       "AND a.action = 'consult.escalate' WHERE c.id = ANY($1::varchar[]) "
                       "GROUP BY c.id, c.escalations", ids)
    assert {(r["escalations"], r["audited"]) for r in rows} == {(2, 2)}
    assert server.proc.poll() is None and len(server.worker_pids()) == 2
