from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.realtime.bus import InMemoryBus, SubscriberLagged, Subscription
from econsult.realtime.events import BusEvent

MakeEvent = Callable[..., BusEvent]

GP, SPECIALIST, OTHER_SPECIALIST = "user:1", "user:2", "user:3"
DERM_POOL, CARDIO_POOL = "pool:dermatology", "pool:cardiology"


async def next_event(sub: Subscription) -> BusEvent:
    async with asyncio.timeout(1):
        return await anext(sub)


async def drain(sub: Subscription) -> list[int]:
    """Ids received before the MARKER event the test published last."""
    ids: list[int] = []
    while True:
        ev = await next_event(sub)
        if ev.id == MARKER:
            return ids
        ids.append(ev.id)


MARKER = 10**9
EVERY_GROUP = (GP, SPECIALIST, OTHER_SPECIALIST, DERM_POOL, CARDIO_POOL, "staff")


async def test_a_closed_bus_cannot_be_started_again() -> None:
    bus = InMemoryBus()
    await bus.start()
    await bus.close()
    with pytest.raises(RuntimeError, match="closed"):
        await bus.start()


async def test_events_reach_exactly_the_matching_groups(event: MakeEvent) -> None:
    bus = InMemoryBus()
    subs = {
        "gp": bus.subscribe([GP]),
        "specialist": bus.subscribe([SPECIALIST, DERM_POOL]),
        "other": bus.subscribe([OTHER_SPECIALIST, CARDIO_POOL]),
        "staff": bus.subscribe(["staff"]),
    }
    for sub in subs.values():
        await sub.__aenter__()
    await bus.publish(event(1, GP, DERM_POOL, "staff"))  # pooled dermatology consult
    await bus.publish(event(2, SPECIALIST, "staff"))  # routed to one specialist
    await bus.publish(event(3, CARDIO_POOL))
    await bus.publish(event(MARKER, *EVERY_GROUP))
    assert {name: await drain(sub) for name, sub in subs.items()} == {
        "gp": [1],
        "specialist": [1, 2],
        "other": [3],
        "staff": [1, 2],
    }


async def test_an_event_matching_several_groups_arrives_once(event: MakeEvent) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([SPECIALIST, DERM_POOL, "staff"]) as sub:
        assert bus.deliver(event(1, SPECIALIST, DERM_POOL, "staff")) == 1
        await bus.publish(event(MARKER, *EVERY_GROUP))
        assert await drain(sub) == [1]


async def test_slow_subscriber_is_dropped_while_fast_one_keeps_up(event: MakeEvent) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([DERM_POOL], max_queue=3) as slow, \
            bus.subscribe([DERM_POOL], max_queue=3) as fast:
        received = []
        for i in range(1, 11):
            await bus.publish(event(i, DERM_POOL))
            received.append((await next_event(fast)).id)
        assert received == list(range(1, 11))
        assert not fast.dropped and not fast.resync_needed

        assert slow.dropped and slow.resync_needed
        # What was queued before the drop is still delivered, then the signal.
        assert [(await next_event(slow)).id for _ in range(3)] == [1, 2, 3]
        with pytest.raises(SubscriberLagged):
            await next_event(slow)
        assert slow.last_id == 3  # where the caller resumes from the event table
        with pytest.raises(SubscriberLagged):  # ended stays ended, never blocks
            await next_event(slow)
        assert bus.subscriber_count == 1


async def test_several_subscribers_dropped_in_one_publish(event: MakeEvent) -> None:
    # Removing subscribers while delivering must not disturb the delivery loop.
    bus = InMemoryBus()
    async with bus.subscribe([DERM_POOL], max_queue=1) as a, \
            bus.subscribe([DERM_POOL, "staff"], max_queue=1) as b, \
            bus.subscribe(["staff"], max_queue=5) as c:
        await bus.publish(event(1, DERM_POOL, "staff"))
        assert bus.deliver(event(2, DERM_POOL, "staff")) == 1
        assert (a.dropped, b.dropped, c.dropped) == (True, True, False)
        assert [(await next_event(c)).id for _ in range(2)] == [1, 2]
        assert bus.subscriber_count == 1


async def test_async_for_yields_then_raises_lagged(event: MakeEvent) -> None:
    bus = InMemoryBus()
    seen = []
    async with bus.subscribe([GP], max_queue=2) as sub:
        for i in (1, 2, 3):
            await bus.publish(event(i, GP))
        with pytest.raises(SubscriberLagged):
            async with asyncio.timeout(1):
                async for ev in sub:
                    seen.append(ev.id)
    assert seen == [1, 2]


async def test_exit_unsubscribes_even_on_error(event: MakeEvent) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([GP, "staff"]) as sub:
        assert bus.subscriber_count == 1
    assert bus.subscriber_count == 0
    assert sub.dropped and not sub.resync_needed
    with pytest.raises(RuntimeError, match="handler failed"):
        async with bus.subscribe([GP]):
            raise RuntimeError("handler failed")
    assert bus.subscriber_count == 0
    assert bus.deliver(event(1, GP, "staff")) == 0


async def test_waiting_subscriber_wakes_on_publish(event: MakeEvent) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([GP]) as sub:
        waiter = asyncio.create_task(next_event(sub))
        await asyncio.sleep(0)
        await bus.publish(event(5, GP))
        assert (await waiter).id == 5


async def test_publish_never_raises_because_of_a_subscriber(
    event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([GP]) as broken, bus.subscribe([GP]) as healthy:
        def explode(_event: BusEvent) -> bool:
            raise RuntimeError("subscriber bug")

        monkeypatch.setattr(broken, "_deliver", explode)
        await bus.publish(event(1, GP))
        assert (await next_event(healthy)).id == 1
        assert broken.dropped and broken.resync_needed
        with pytest.raises(SubscriberLagged):
            await next_event(broken)


async def test_resync_and_close_end_waiting_iterators(event: MakeEvent) -> None:
    bus = InMemoryBus()
    async with bus.subscribe([GP]) as lagging, bus.subscribe(["staff"]) as other:
        waiter = asyncio.create_task(next_event(lagging))
        await asyncio.sleep(0)
        assert bus.mark_resync_needed() == 2
        with pytest.raises(SubscriberLagged):
            await waiter
        assert other.resync_needed

    async with bus.subscribe([GP]) as sub:
        waiter = asyncio.create_task(next_event(sub))
        await asyncio.sleep(0)
        await bus.close()
        with pytest.raises(StopAsyncIteration):
            await waiter
        assert sub.dropped and not sub.resync_needed
    await bus.publish(event(1, GP))  # after close: ignored, not an error
    with pytest.raises(RuntimeError):
        bus.subscribe([GP])


async def test_subscription_misuse_is_refused() -> None:
    bus = InMemoryBus()
    with pytest.raises(ValueError):
        bus.subscribe([])
    with pytest.raises(ValueError):
        bus.subscribe(["everyone"])
    with pytest.raises(ValueError):
        bus.subscribe([GP], max_queue=0)
    sub = bus.subscribe([GP])
    with pytest.raises(RuntimeError):
        await anext(sub)
    async with sub:
        pass
    with pytest.raises(RuntimeError):
        async with sub:
            pass


def _event(event_id: int, groups: set[str]) -> BusEvent:
    return BusEvent(id=event_id, type="consult.updated",
                    consult_id="7d1f6f7e-3c1a-4b0e-9a55-2f7c2c9f0a11",
                    at=datetime(2026, 3, 1, tzinfo=UTC), groups=frozenset(groups))


@settings(max_examples=60, deadline=None)
@given(
    subscriptions=st.lists(st.sets(st.sampled_from(EVERY_GROUP), min_size=1), max_size=6),
    publications=st.lists(st.sets(st.sampled_from(EVERY_GROUP)), max_size=30),
)
async def test_each_subscriber_gets_its_events_once_in_order(
    subscriptions: list[set[str]], publications: list[set[str]]
) -> None:
    bus = InMemoryBus()
    async with AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(bus.subscribe(groups, max_queue=64))
                for groups in subscriptions]
        for event_id, groups in enumerate(publications, start=1):
            await bus.publish(_event(event_id, groups))
        await bus.publish(_event(MARKER, set(EVERY_GROUP)))
        for groups, sub in zip(subscriptions, subs, strict=True):
            expected = [i for i, g in enumerate(publications, start=1) if g & groups]
            assert await drain(sub) == expected
    assert bus.subscriber_count == 0
