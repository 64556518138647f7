"""Pub/sub interface for live consult events, and its in-process implementation.

Delivery is best effort and at most once; the ``consult_events`` table is the
record. A subscriber that cannot keep up is dropped instead of slowing anyone
down: its iterator yields what was already queued and then raises
``SubscriberLagged``, and the caller reloads from the table after the last id it
saw (``Subscription.last_id``). To replay without a gap, subscribe *first*, then
read the table, then skip live events whose id is not above the replayed ones.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Protocol

from econsult.realtime.events import BusEvent, check_group

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUE = 256


class SubscriberLagged(Exception):
    """Events may have been missed: resync from the event table, then subscribe again."""


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: BusEvent) -> None:
        """Deliver to every subscriber of any of ``event.groups``; never raises for them."""
        ...

    def subscribe(
        self, groups: Iterable[str], *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> Subscription: ...


class _End(enum.Enum):
    LAGGED = "lagged"
    CLOSED = "closed"


class Subscription:
    """Live events for a set of groups; use as ``async with`` then ``async for``.

    Registered on ``__aenter__`` and removed on ``__aexit__``. ``dropped`` turns
    true when the bus stops delivering (lag, lost connection, bus closed or exit);
    ``resync_needed`` says whether events may have been missed on the way.
    """

    def __init__(self, bus: InMemoryBus, groups: frozenset[str], max_queue: int) -> None:
        self.groups = groups
        self.max_queue = max_queue
        self.dropped = False
        self.resync_needed = False
        self.last_id: int | None = None
        self._bus = bus
        self._entered = False
        self._end: _End | None = None
        # One slot beyond max_queue is reserved so the end marker always fits,
        # even when the subscriber is dropped for having a full queue.
        self._queue: asyncio.Queue[BusEvent | _End] = asyncio.Queue(max_queue + 1)

    async def __aenter__(self) -> Subscription:
        if self._entered:
            raise RuntimeError("a Subscription can be entered only once")
        self._entered = True
        self._bus._add(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bus._remove(self)
        self.dropped = True

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> BusEvent:
        if not self._entered:
            raise RuntimeError("use `async with bus.subscribe(...)` before iterating")
        if self._end is None:
            item = await self._queue.get()
            if isinstance(item, BusEvent):
                self.last_id = item.id
                return item
            self._end = item
        # Once ended, every further call ends the same way instead of blocking.
        if self._end is _End.LAGGED:
            raise SubscriberLagged(f"resync after event {self.last_id}")
        raise StopAsyncIteration

    def _deliver(self, event: BusEvent) -> bool:
        """Queue ``event``; False if this subscriber had to be dropped instead."""
        if self.dropped:
            return False
        if self._queue.qsize() >= self.max_queue:
            self._stop(resync=True)
            return False
        self._queue.put_nowait(event)
        return True

    def _stop(self, *, resync: bool) -> None:
        if self.dropped:
            return
        self.dropped = True
        self.resync_needed = resync
        self._queue.put_nowait(_End.LAGGED if resync else _End.CLOSED)


class InMemoryBus:
    """Single-process bus: one event loop, no threads, never blocks a publisher."""

    def __init__(self) -> None:
        # dict-as-ordered-set: delivery order follows subscription order, which
        # keeps tests and logs deterministic.
        self._groups: dict[str, dict[Subscription, None]] = {}
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len({s for subs in self._groups.values() for s in subs})

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")

    async def close(self) -> None:
        self._closed = True
        self._stop_all(resync=False)

    async def publish(self, event: BusEvent) -> None:
        self.deliver(event)

    def deliver(self, event: BusEvent) -> int:
        """Synchronous publish; returns how many subscribers received the event."""
        if self._closed:
            logger.debug("event %s published on a closed bus; dropped", event.id)
            return 0
        # Collect targets first: a copy, so a subscriber leaving while we deliver
        # cannot change the dicts we iterate, and one matching several groups
        # still gets the event once.
        targets: dict[Subscription, None] = {}
        for group in event.groups:
            targets.update(self._groups.get(group, {}))
        delivered = 0
        for sub in targets:
            try:
                if sub._deliver(event):
                    delivered += 1
                    continue
                logger.warning("subscriber to %s lagged; dropped", sorted(sub.groups))
            except Exception:
                logger.exception("subscriber failed to take event %s; dropped", event.id)
                sub._stop(resync=True)
            self._remove(sub)
        return delivered

    def subscribe(
        self, groups: Iterable[str], *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> Subscription:
        if self._closed:
            raise RuntimeError("bus is closed")
        wanted = frozenset(check_group(g) for g in groups)
        if not wanted:
            raise ValueError("subscribe needs at least one group")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        return Subscription(self, wanted, max_queue)

    def mark_resync_needed(self) -> int:
        """End every subscription with ``SubscriberLagged``; returns how many."""
        return self._stop_all(resync=True)

    def _stop_all(self, *, resync: bool) -> int:
        subs = {s: None for members in self._groups.values() for s in members}
        self._groups.clear()
        for sub in subs:
            sub._stop(resync=resync)
        return len(subs)

    def _add(self, sub: Subscription) -> None:
        if self._closed:
            sub._stop(resync=False)
            return
        for group in sub.groups:
            self._groups.setdefault(group, {})[sub] = None

    def _remove(self, sub: Subscription) -> None:
        for group in sub.groups:
            members = self._groups.get(group)
            if members is not None:
                members.pop(sub, None)
                if not members:
                    del self._groups[group]
