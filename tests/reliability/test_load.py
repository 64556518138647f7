"""Load: GPs submitting and specialists working their queues (list, open, acknowledge,
answer) against one real server. Zero 5xx, zero "database is locked" in the server log,
and no lost update: afterwards the consults and their states are reconciled against
the consult_events table and against what every client was told."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from econsult.accounts import users as accounts
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.demo.seed import DEMO_PASSWORD
from econsult.routing.rota import Tier
from econsult.security.audit import Actor
from tests.factories import CHEAP_PASSWORDS, post_shift
from tests.reliability.conftest import MakeServer
from tests.reliability.live import LiveServer, logged_in, login
from tests.reliability.workload import Tally, gp_loop, percentiles, query

ON_CALL = ("dermatology", "cardiology", "endocrinology", "neurology")
POOL_ONLY = "rheumatology"  # nobody on call: every consult pools and specialists race for it
SPECIALTIES = (*ON_CALL, POOL_ONLY)
# The state each kind of event leaves a consult in; events missing here change none.
STATE_AFTER = {"assigned": "assigned", "pooled": "pooled", "escalated": "assigned",
               "acknowledged": "in_review", "answered": "answered"}
NO_STATE_CHANGE = {"submitted", "at_risk", "breached"}


@dataclass
class Work:
    """What specialists were told: who acknowledged and answered what."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    lost_races: int = 0
    requests: int = 0


async def add_users(server: LiveServer, gps: int, specialists: int) -> tuple[list[str], list[str]]:
    settings = Settings.from_env({"ECONSULT_DATA_DIR": str(server.data_dir)})
    db = Database.from_settings(settings)
    people: list[tuple[str, str, list[str]]] = [
        (f"loadgp{i}@load.test", "gp", []) for i in range(gps)] + [
        (f"loadspec{i}@load.test", "specialist", [SPECIALTIES[i % len(SPECIALTIES)]])
        for i in range(specialists)]
    try:
        for email, role, specialties in people:
            await accounts.create_user(db, email=email, name=email.split("@")[0], role=role,
                                       password=DEMO_PASSWORD, specialties=specialties,
                                       actor=Actor(None, "load-test"), clock=SystemClock(),
                                       passwords=CHEAP_PASSWORDS, by=None)
    finally:
        await db.dispose()
    return [p[0] for p in people if p[1] == "gp"], [p[0] for p in people if p[1] != "gp"]


async def put_on_call(staff: httpx.AsyncClient, specialists: list[str]) -> None:
    now = datetime.now(UTC)
    for i, email in enumerate(specialists):
        specialty = SPECIALTIES[i % len(SPECIALTIES)]
        if specialty == POOL_ONLY:
            continue
        await post_shift(staff, specialty, email, Tier.PRIMARY, now - timedelta(minutes=5),
                         now + timedelta(hours=2), api="")


async def specialist_loop(client: httpx.AsyncClient, tally: Tally, work: Work,
                          stop: asyncio.Event, rng: random.Random) -> None:
    me = int((await client.get("/me")).json()["user"]["id"])
    for _ in range(100_000):
        if stop.is_set():
            return
        listed = await client.get("/consults")
        tally.record("GET /consults", listed)
        work.requests += 1
        rows = listed.json()["consults"] if listed.status_code == 200 else []
        reviewing = [c for c in rows if c["state"] == "in_review" and c["assigned_to"] == me]
        waiting = [c for c in rows if c["state"] in ("assigned", "pooled")]
        if reviewing:
            await answer(client, rng.choice(reviewing)["id"], me, tally, work)
        elif waiting:
            consult_id = rng.choice(waiting)["id"]
            opened = await client.get(f"/consults/{consult_id}")
            tally.record("GET /consults/{id}", opened)
            ack = await client.post(f"/consults/{consult_id}/acknowledge")
            tally.record("POST acknowledge", ack)
            work.requests += 2
            if ack.status_code == 200:
                work.acknowledged[consult_id] = me
                await answer(client, consult_id, me, tally, work)
            elif ack.status_code in (404, 409):  # another specialist took it first
                work.lost_races += 1
            else:
                tally.server_errors.append(f"acknowledge: {ack.status_code} {ack.text[:200]}")
        await asyncio.sleep(rng.uniform(0.05, 0.3) if waiting or reviewing else 0.3)


async def answer(client: httpx.AsyncClient, consult_id: str, me: int, tally: Tally,
                 work: Work) -> None:
    sent = await client.post(f"/consults/{consult_id}/messages", json={
        "body": "Benign seborrhoeic keratosis; reassure, no referral.", "kind": "answer",
        "minutes": 5})
    tally.record("POST answer", sent)
    work.requests += 1
    if sent.status_code == 201:
        work.answered[consult_id] = me
    else:
        tally.server_errors.append(f"answer: {sent.status_code} {sent.text[:200]}")


async def run_load(make_server: MakeServer, *, gps: int, specialists: int,
                   seconds: float) -> None:
    server = await make_server()
    gp_emails, specialist_emails = await add_users(server, gps, specialists)
    await server.start()
    async with logged_in(server.base_url, "staff@demo.econsult.org") as staff:
        await put_on_call(staff, specialist_emails)
    # Concurrently: the first login re-hashes each password at full argon2 cost.
    gp_clients = list(await asyncio.gather(*(login(server.base_url, e) for e in gp_emails)))
    spec_clients = list(await asyncio.gather(
        *(login(server.base_url, e) for e in specialist_emails)))
    gp_tally, spec_tally, work, stop = Tally(), Tally(), Work(), asyncio.Event()
    rng = random.Random(7)
    tasks = [asyncio.create_task(gp_loop(c, e, gp_tally, stop, rng=random.Random(rng.random()),
                                         max_images=1, specialties=SPECIALTIES))
             for c, e in zip(gp_clients, gp_emails, strict=True)]
    tasks += [asyncio.create_task(specialist_loop(c, spec_tally, work, stop,
                                                  random.Random(rng.random())))
              for c in spec_clients]
    started = time.monotonic()
    try:
        await asyncio.sleep(seconds)
    finally:
        stop.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 120)
        for client in gp_clients + spec_clients:
            await client.aclose()
    elapsed = time.monotonic() - started
    server.stop()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    log = server.log_text()
    assert "database is locked" not in log, server.log_tail()
    assert "Exception in ASGI application" not in log, server.log_tail()
    for tally in (gp_tally, spec_tally):
        assert not tally.server_errors, tally.server_errors[:5]
        assert not tally.transport_errors, tally.transport_errors
    assert set(gp_tally.statuses) == {201}, gp_tally.statuses
    reconcile(server, gp_tally, work)
    requests = sum(gp_tally.statuses.values()) + sum(spec_tally.statuses.values())
    print(f"\nload {gps} GPs + {specialists} specialists for {elapsed:.0f} s: "
          f"{len(gp_tally.accepted)} consults submitted "
          f"({len(gp_tally.accepted) / elapsed:.1f}/s), {len(work.acknowledged)} acknowledged, "
          f"{len(work.answered)} answered, {work.lost_races} lost races, {requests} requests "
          f"({requests / elapsed:.0f}/s), specialist statuses {dict(spec_tally.statuses)}\n"
          f"latency: {percentiles([gp_tally, spec_tally])}")


def reconcile(server: LiveServer, gp_tally: Tally, work: Work) -> None:
    data_dir = server.data_dir
    accepted = {a.consult_id for a in gp_tally.accepted}
    states = {str(r[0]): (str(r[1]), r[2]) for r in
              query(data_dir, "SELECT id, state, assigned_to FROM consults")}
    assert set(states) == accepted
    events: dict[str, list[tuple[str, object]]] = {}
    for consult_id, type_, actor in query(
            data_dir, "SELECT consult_id, type, actor_id FROM consult_events ORDER BY id"):
        events.setdefault(str(consult_id), []).append((str(type_), actor))
    kinds = Counter(t for timeline in events.values() for t, _ in timeline)
    assert kinds["submitted"] == len(gp_tally.accepted) == gp_tally.statuses[201]
    assert kinds["acknowledged"] == len(work.acknowledged), (kinds, len(work.acknowledged))
    assert kinds["answered"] == len(work.answered), (kinds, len(work.answered))
    for consult_id, (state, assigned_to) in states.items():
        timeline = events[consult_id]
        unknown = {t for t, _ in timeline} - set(STATE_AFTER) - NO_STATE_CHANGE
        assert not unknown, (consult_id, unknown)
        implied = [STATE_AFTER[t] for t, _ in timeline if t in STATE_AFTER][-1]
        assert state == implied, (consult_id, state, timeline)
        acks = [actor for t, actor in timeline if t == "acknowledged"]
        assert acks == ([work.acknowledged[consult_id]] if consult_id in work.acknowledged
                        else []), (consult_id, timeline)
        if consult_id in work.answered:
            assert assigned_to == work.answered[consult_id] == acks[0], (consult_id, timeline)


async def test_load_smoke(make_server: MakeServer) -> None:
    await run_load(make_server, gps=5, specialists=5, seconds=5)


async def test_load_busy_monday_20s(make_server: MakeServer) -> None:
    """The busy Monday's 20 GPs and 50 specialists for 20 s (in `make test`): zero
    transport errors, zero 5xx, everything reconciled."""
    await run_load(make_server, gps=20, specialists=50, seconds=20)


@pytest.mark.slow
async def test_load_busy_monday(make_server: MakeServer) -> None:
    await run_load(make_server, gps=20, specialists=50, seconds=60)
