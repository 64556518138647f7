"""Crash safety: `kill -9` the server while GPs submit consults with photos, again and
again; nothing that was acknowledged with a 201 may be lost, every image must decrypt,
`econsult gc` must leave no orphan blob, and deadlines that fell due while the server
was down must fire when it comes back."""

from __future__ import annotations

import asyncio
import os
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from econsult.routing.rota import Tier
from tests.factories import post_shift, put_urgent_targets
from tests.reliability.conftest import MakeServer
from tests.reliability.live import LiveServer, logged_in, login, run_cli
from tests.reliability.workload import (
    Tally,
    blob_census,
    check_intact,
    gp_loop,
    keyring_of,
    query,
    submit,
)

GPS = ("gp@demo.econsult.org", "gp2@demo.econsult.org", "gp3@demo.econsult.org",
       "gp@demo.econsult.org")


async def crash_cycles(server: LiveServer, kills: int, seed: int) -> Tally:
    """Start, let the GPs submit for a random moment, kill -9; `kills` times. The GPs
    keep trying while the server is down, as a real client would."""
    rng = random.Random(seed)
    await server.start()
    clients = [await login(server.base_url, gp) for gp in GPS]
    tally, stop = Tally(), asyncio.Event()
    tasks = [asyncio.create_task(gp_loop(c, gp, tally, stop, rng=random.Random(seed + i)))
             for i, (c, gp) in enumerate(zip(clients, GPS, strict=True))]
    try:
        for kill in range(kills):
            if kill:
                await server.start()
            await asyncio.sleep(rng.uniform(0.3, 2.5))
            server.kill9()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        for client in clients:
            await client.aclose()
    return tally


async def check_after_crashes(server: LiveServer, tally: Tally, seed: int) -> dict[str, int]:
    # The server comes back and works: one more consult, with a photo, after the last kill.
    await server.start()
    async with logged_in(server.base_url, GPS[0]) as gp:
        after = Tally()
        stop = asyncio.Event()
        stop_soon = asyncio.get_running_loop().call_later(1.0, stop.set)
        await gp_loop(gp, GPS[0], after, stop, rng=random.Random(seed), limit=3)
        stop_soon.cancel()
    assert after.accepted, after
    server.stop()
    accepted = tally.accepted + after.accepted
    assert not tally.server_errors, tally.server_errors[:5]
    assert set(tally.statuses) <= {201}, tally.statuses

    data_dir, keyring = server.data_dir, keyring_of(server.data_dir)
    images = check_intact(data_dir, accepted, keyring)
    code, out, err = await run_cli(data_dir, "images", "verify")
    assert code == 0, out + err
    code, out, err = await run_cli(data_dir, "audit", "verify")
    assert code == 0, out + err

    code, out, err = await run_cli(data_dir, "gc", "--min-age", "0")
    assert code == 0, out + err
    removed = sum(1 for line in out.splitlines() if line.startswith("removed ") and
                  "orphan" not in line)
    on_disk, named, temps = blob_census(data_dir)
    assert on_disk == named, (f"orphans {sorted(on_disk - named)[:5]}, "
                              f"missing {sorted(named - on_disk)[:5]}")
    assert not temps, temps[:5]
    assert check_intact(data_dir, accepted, keyring) == images  # gc spared every live blob
    for a in accepted:  # each one submitted exactly once, routed, and nothing more
        events = [r[0] for r in query(data_dir, "SELECT type FROM consult_events WHERE "
                                                "consult_id = ? ORDER BY id", a.consult_id)]
        assert events[0] == "submitted" and events[1] in ("assigned", "pooled"), events
    consults = query(data_dir, "SELECT count(*) FROM consults")[0][0]
    return {"kills": server.starts - 1, "accepted": len(accepted), "consults": int(str(consults)),
            "images": images, "orphans_removed": removed,
            "transport_errors": sum(tally.transport_errors.values())}


async def run_crash_test(make_server: MakeServer, kills: int) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", time.time_ns() % 1_000_000))
    server = await make_server()
    started = time.monotonic()
    tally = await crash_cycles(server, kills, seed)
    assert len(tally.accepted) >= kills // 2, (tally, server.log_tail())
    figures = await check_after_crashes(server, tally, seed)
    print(f"\ncrash safety (seed {seed}): {figures}, {time.monotonic() - started:.1f} s")
    assert figures["kills"] == kills


async def test_three_kills_lose_nothing(make_server: MakeServer) -> None:
    await run_crash_test(make_server, kills=3)


@pytest.mark.slow
async def test_fifty_kills_lose_nothing(make_server: MakeServer) -> None:
    await run_crash_test(make_server, kills=50)


async def test_escalation_due_during_downtime_fires_after_restart(
        make_server: MakeServer) -> None:
    server = await make_server()
    await server.start()
    async with logged_in(server.base_url, "staff@demo.econsult.org") as staff, \
            logged_in(server.base_url, "gp@demo.econsult.org") as gp:
        await on_call_derm1_then_derm2(staff)
        response = await submit(gp, [], urgency="urgent")
        submitted = time.monotonic()
        assert response.status_code == 201, response.text
        consult = response.json()
        server.kill9()
        assert time.monotonic() - submitted < 2.0, "too slow to kill before the deadline"
        derm1, derm2 = specialist_ids(server)
        assert consult["state"] == "assigned" and consult["assigned_to"] == derm1, consult

        await asyncio.sleep(3.0 - (time.monotonic() - submitted))
        restarted = datetime.now(UTC)
        await server.start()
        detail: dict[str, object] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            detail = (await gp.get(f"/consults/{consult['id']}")).json()
            if detail["assigned_to"] == derm2:
                break
            await asyncio.sleep(0.2)
        assert detail["assigned_to"] == derm2 and detail["state"] == "assigned", detail
        events = detail["events"]
        assert isinstance(events, list)
        escalated = [e for e in events if e["type"] == "escalated"]
        assert len(escalated) == 1, events
        # It fired after the restart, not before the kill.
        assert datetime.fromisoformat(escalated[0]["at"]) >= restarted - timedelta(seconds=0.5)


async def on_call_derm1_then_derm2(staff: httpx.AsyncClient) -> None:
    """Urgent dermatology must be acknowledged within 2 s; derm1 primary, derm2 backup,
    and nothing else on the dermatology rota."""
    await put_urgent_targets(staff, "dermatology", acknowledge_within="PT2S", api="")
    rota = (await staff.get("/rota/dermatology")).json()
    for weekly in rota["weekly"]:
        gone = await staff.delete(f"/rota/dermatology/weekly/{weekly['id']}")
        assert gone.status_code in (200, 204), gone.text
    now = datetime.now(UTC)
    for email, tier in (("derm1@demo.econsult.org", Tier.PRIMARY),
                        ("derm2@demo.econsult.org", Tier.BACKUP)):
        await post_shift(staff, "dermatology", email, tier, now - timedelta(minutes=5),
                         now + timedelta(hours=2), api="")


def specialist_ids(server: LiveServer) -> tuple[int, int]:
    rows = query(server.data_dir, "SELECT email, id FROM users WHERE email IN (?, ?)",
                 "derm1@demo.econsult.org", "derm2@demo.econsult.org")
    ids = {str(email): int(str(user_id)) for email, user_id in rows}
    return ids["derm1@demo.econsult.org"], ids["derm2@demo.econsult.org"]
