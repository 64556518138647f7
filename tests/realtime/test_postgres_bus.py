"""PostgresBus against a real server: two buses in one process stand for two workers."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import pytest

from econsult.realtime.bus import EventBus, SubscriberLagged, Subscription
from econsult.realtime.events import BusEvent
from econsult.realtime.pgbus import CHANNEL, PostgresBus, asyncpg_dsn

pytestmark = pytest.mark.postgres

DERM_POOL = "pool:dermatology"

_SCHEMA = """
CREATE TABLE consult_events (
    id bigserial PRIMARY KEY,
    type text NOT NULL,
    consult_id uuid NOT NULL,
    at timestamptz NOT NULL,
    groups text[] NOT NULL,
    data jsonb NOT NULL
)
"""


@dataclass
class EventTable:
    """A stand-in for consult_events: committed writes and a recording fetch_events."""

    pool: asyncpg.Pool
    calls: dict[str, list[list[int]]] = field(default_factory=dict)
    fail: bool = False

    async def write(self, *groups: str, **data: object) -> BusEvent:
        row = await self.pool.fetchrow(
            "INSERT INTO consult_events (type, consult_id, at, groups, data)"
            " VALUES ('consult.assigned', $1, $2, $3, $4) RETURNING *",
            uuid.uuid4(), datetime.now(UTC), list(groups),
            json.dumps(data or {"state": "pooled", "specialty": "dermatology"}),
        )
        return _to_event(row)

    def fetcher(self, name: str) -> Callable[[list[int]], Awaitable[list[BusEvent]]]:
        calls = self.calls.setdefault(name, [])

        async def fetch_events(ids: list[int]) -> list[BusEvent]:
            calls.append(list(ids))
            if self.fail:
                raise ConnectionError("database went away")
            # Newest first: fetch_events promises no order, so the bus must sort.
            rows = await self.pool.fetch(
                "SELECT * FROM consult_events WHERE id = ANY($1::bigint[]) ORDER BY id DESC", ids
            )
            return [_to_event(r) for r in rows]

        return fetch_events


def _to_event(row: asyncpg.Record) -> BusEvent:
    return BusEvent(id=row["id"], type=row["type"], consult_id=str(row["consult_id"]),
                    at=row["at"], groups=frozenset(row["groups"]), data=json.loads(row["data"]))


@pytest.fixture
async def table(pg_url: str) -> AsyncIterator[EventTable]:
    pool = await asyncpg.create_pool(asyncpg_dsn(pg_url), min_size=1, max_size=4)
    await pool.execute(_SCHEMA)
    try:
        yield EventTable(pool)
    finally:
        await pool.close()


MakeBus = Callable[..., Awaitable[PostgresBus]]


@pytest.fixture
async def make_bus(pg_url: str, table: EventTable) -> AsyncIterator[MakeBus]:
    async with AsyncExitStack() as stack:

        async def make(name: str) -> PostgresBus:
            bus = PostgresBus(pg_url, table.fetcher(name), application_name=name,
                              reconnect_initial=0.05, reconnect_max=0.5)
            await bus.start()
            stack.push_async_callback(bus.close)
            return bus

        yield make


async def next_event(sub: Subscription, within: float = 1.0) -> BusEvent:
    async with asyncio.timeout(within):
        return await anext(sub)


async def terminate(pg_url: str, application_name: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1",
            application_name,
        ))
    finally:
        await conn.close()


async def test_event_published_on_one_worker_reaches_another(
    make_bus: MakeBus, table: EventTable
) -> None:
    worker_a, worker_b = await make_bus("worker-a"), await make_bus("worker-b")
    bus: EventBus = worker_a  # the Protocol is what the app is written against
    async with worker_b.subscribe([DERM_POOL]) as pool_sub, \
            worker_b.subscribe(["user:99"]) as bystander, \
            worker_a.subscribe([DERM_POOL, "staff"]) as local_sub:
        first = await table.write(DERM_POOL, "staff")
        await bus.publish(first)
        assert await next_event(pool_sub) == first
        assert await next_event(local_sub) == first  # the publisher's own worker too

        second = await table.write("user:99")
        await bus.publish(second)
        # The bystander's first event is the second one: it never saw the pool event.
        assert await next_event(bystander) == second
    assert table.calls["worker-b"] == [[first.id], [second.id]]


async def test_notify_payload_carries_only_the_event_id(
    make_bus: MakeBus, table: EventTable, pg_url: str
) -> None:
    eavesdropper = await asyncpg.connect(asyncpg_dsn(pg_url))
    heard: asyncio.Queue[str] = asyncio.Queue()
    await eavesdropper.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    try:
        bus = await make_bus("worker-a")
        event = await table.write(DERM_POOL, assigned_to=12, state="assigned")
        await bus.publish(event)
        async with asyncio.timeout(1):
            assert await heard.get() == str(event.id)
        assert heard.empty()
    finally:
        await eavesdropper.close()


async def test_ids_notified_together_are_fetched_in_one_batch(
    make_bus: MakeBus, table: EventTable, pg_url: str
) -> None:
    bus = await make_bus("worker-b")
    events = [await table.write(DERM_POOL) for _ in range(3)]
    async with bus.subscribe([DERM_POOL]) as sub:
        # Notifications of one transaction are delivered together at commit,
        # like a burst from several request handlers; order scrambled on purpose.
        sender = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            async with sender.transaction():
                for ev in reversed(events):
                    await sender.execute("SELECT pg_notify($1, $2)", CHANNEL, str(ev.id))
                await sender.execute("SELECT pg_notify($1, 'not-an-id')", CHANNEL)
        finally:
            await sender.close()
        assert [await next_event(sub) for _ in events] == events
    assert table.calls["worker-b"] == [[ev.id for ev in events]]


async def test_listener_reconnects_and_signals_resync(
    make_bus: MakeBus, table: EventTable, pg_url: str
) -> None:
    worker_a, worker_b = await make_bus("worker-a"), await make_bus("worker-b")
    async with worker_a.subscribe([DERM_POOL]) as sub:
        waiter = asyncio.create_task(next_event(sub, within=5))
        assert await terminate(pg_url, "worker-a:listen") == 1
        with pytest.raises(SubscriberLagged):
            await waiter
        assert sub.dropped and sub.resync_needed
    assert worker_a.connected

    # LISTEN is active again: a fresh subscription hears the other worker.
    async with worker_a.subscribe([DERM_POOL]) as again:
        event = await table.write(DERM_POOL)
        await worker_b.publish(event)
        assert await next_event(again) == event


async def test_publish_recovers_from_a_dropped_publisher_connection(
    make_bus: MakeBus, table: EventTable, pg_url: str
) -> None:
    worker_a, worker_b = await make_bus("worker-a"), await make_bus("worker-b")
    async with worker_b.subscribe([DERM_POOL]) as sub:
        first = await table.write(DERM_POOL)
        await worker_a.publish(first)
        assert await next_event(sub) == first
        assert await terminate(pg_url, "worker-a:notify") == 1
        second = await table.write(DERM_POOL)
        await worker_a.publish(second)
        assert await next_event(sub) == second
        assert not sub.dropped


async def test_failed_fetch_makes_local_subscribers_resync(
    make_bus: MakeBus, table: EventTable
) -> None:
    bus = await make_bus("worker-a")
    async with bus.subscribe([DERM_POOL]) as sub:
        table.fail = True
        await bus.publish(await table.write(DERM_POOL))
        with pytest.raises(SubscriberLagged):
            await next_event(sub)


async def test_start_fails_fast_and_close_ends_subscribers(pg_url: str, table: EventTable) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/econsult_no_such_database"
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await PostgresBus(missing, table.fetcher("x")).start()

    bus = PostgresBus(pg_url, table.fetcher("x"))
    await bus.start()
    async with bus.subscribe(["staff"]) as sub:
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await next_event(sub)
    assert not bus.connected
    await bus.close()  # idempotent
