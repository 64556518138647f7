"""Event bus across worker processes: PostgreSQL LISTEN/NOTIFY.

Each process holds two dedicated asyncpg connections, outside any SQLAlchemy pool:

* the *listener* runs ``LISTEN`` and is watched by a supervisor task that
  reconnects with exponential backoff. Notifications sent while it was down are
  lost, so after every reconnect all local subscribers get ``SubscriberLagged``
  and reload from the event table.
* the *publisher* sends ``pg_notify``. It is long-lived and opened lazily: one
  round trip per event, where a connection per event would cost a TCP and auth
  handshake plus a backend process each time, and borrowing from the ORM pool
  would make live updates fail whenever request traffic exhausts it. It is
  separate from the listener so a publish never waits behind, or breaks, LISTEN.

The payload is only the event id: every database user may LISTEN on any channel,
so nothing else belongs there. Receivers batch the ids that arrive together and
load the full events with ``fetch_events`` (which reads ``consult_events``).
Callers publish only after the transaction that wrote the event has committed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg

from econsult.realtime.bus import DEFAULT_MAX_QUEUE, InMemoryBus, Subscription
from econsult.realtime.events import BusEvent

logger = logging.getLogger(__name__)

CHANNEL = "econsult_events"

FetchEvents = Callable[[list[int]], Awaitable[list[BusEvent]]]

_CHANNEL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def asyncpg_dsn(url: str) -> str:
    """Turn a SQLAlchemy ``postgresql+asyncpg://`` URL into a libpq-style DSN."""
    scheme, sep, rest = url.partition("://")
    dialect, _, driver = scheme.partition("+")
    if not sep or dialect not in ("postgresql", "postgres") or driver not in ("", "asyncpg"):
        # Only the scheme in the message: the rest may hold a password.
        raise ValueError(f"not a PostgreSQL asyncpg URL (scheme {scheme!r})")
    return f"postgresql://{rest}"


class PostgresBus:
    def __init__(
        self,
        dsn: str,
        fetch_events: FetchEvents,
        *,
        channel: str = CHANNEL,
        application_name: str = "econsult-bus",
        reconnect_initial: float = 0.2,
        reconnect_max: float = 10.0,
        keepalive_interval: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        if not _CHANNEL_NAME.match(channel):
            raise ValueError(f"bad channel name {channel!r}")
        self._dsn = asyncpg_dsn(dsn)
        self._fetch_events = fetch_events
        self._channel = channel
        self._app_name = application_name
        self._reconnect_initial = reconnect_initial
        self._reconnect_max = reconnect_max
        self._keepalive = keepalive_interval
        self._timeout = timeout
        self._local = InMemoryBus()
        self._listener: Any = None
        self._publisher: Any = None
        self._publish_lock = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._pending: list[int] = []
        self._fetcher: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether the listener is up (for health checks)."""
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        """Open the listener; fails fast if the database cannot be reached."""
        if self._closed:
            raise RuntimeError("bus is closed")
        if self._started:
            return
        lost = await self._listen()
        self._started = True
        self._supervisor = asyncio.create_task(self._supervise(lost), name="pgbus-listener")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in (self._supervisor, self._fetcher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        async with self._publish_lock:
            await self._close_conn(self._publisher)
            self._publisher = None
        await self._close_conn(self._listener)
        self._listener = None
        await self._local.close()

    def subscribe(
        self, groups: Iterable[str], *, max_queue: int = DEFAULT_MAX_QUEUE
    ) -> Subscription:
        return self._local.subscribe(groups, max_queue=max_queue)

    def mark_resync_needed(self) -> int:
        """Tell every local subscriber it may have missed events (as after a lost
        LISTEN connection)."""
        return self._local.mark_resync_needed()

    async def publish(self, event: BusEvent) -> None:
        """NOTIFY the event id; on failure, log and resync local subscribers.

        It does not raise: the event is already committed, so failing the request
        would mislead the user, and clients catch up from the table on resync.
        """
        if self._closed:
            logger.debug("event %s published on a closed bus; dropped", event.id)
            return
        async with self._publish_lock:
            for attempt in (1, 2):
                try:
                    async with asyncio.timeout(self._timeout):
                        if self._publisher is None or self._publisher.is_closed():
                            self._publisher = await self._connect("notify")
                        await self._publisher.execute(
                            "SELECT pg_notify($1, $2)", self._channel, str(event.id)
                        )
                    return
                except Exception:
                    # A stale connection (server restart, idle timeout) fails once;
                    # one retry on a fresh connection covers that case.
                    await self._close_conn(self._publisher)
                    self._publisher = None
                    if attempt == 2:
                        logger.exception("could not NOTIFY event %s", event.id)
        # Our own listener would have delivered it locally; since it will not,
        # make local subscribers reload rather than silently miss it.
        self._local.mark_resync_needed()

    async def _connect(self, role: str) -> Any:
        return await asyncpg.connect(
            self._dsn,
            timeout=self._timeout,
            server_settings={"application_name": f"{self._app_name}:{role}"},
        )

    async def _listen(self) -> asyncio.Event:
        """Open a listener connection; the returned event is set when it drops."""
        conn = await self._connect("listen")
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(self._channel, self._on_notify)
        except BaseException:
            conn.terminate()
            raise
        self._listener = conn
        return lost

    async def _supervise(self, lost: asyncio.Event) -> None:
        while True:
            await self._watch(lost)
            logger.warning("event bus lost its LISTEN connection; reconnecting")
            await self._close_conn(self._listener)
            self._listener = None
            lost = await self._reconnect()
            # Only now, with LISTEN active again: a subscriber that resyncs
            # earlier could miss events sent during the rest of the outage.
            count = self._local.mark_resync_needed()
            logger.info("event bus reconnected; %d subscribers told to resync", count)

    async def _watch(self, lost: asyncio.Event) -> None:
        """Return when the listener connection is gone or stops answering."""
        while True:
            try:
                async with asyncio.timeout(self._keepalive):
                    await lost.wait()
                return
            except TimeoutError:
                pass
            # A half-open TCP connection never reports termination; a ping does.
            try:
                async with asyncio.timeout(self._timeout):
                    await self._listener.execute("SELECT 1")
            except Exception:
                logger.warning("event bus listener failed its keepalive", exc_info=True)
                return

    async def _reconnect(self) -> asyncio.Event:
        delay = self._reconnect_initial
        while True:
            # Jitter so that every worker does not hit a restarted server at once.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                return await self._listen()
            except Exception as exc:
                logger.warning("event bus reconnect failed (%s); retrying", type(exc).__name__)
            delay = min(delay * 2, self._reconnect_max)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if self._closed:  # a callback asyncpg queued before close() ran
            return
        try:
            event_id = int(payload)
        except ValueError:
            logger.warning("ignoring non-id payload on channel %s", self._channel)
            return
        self._pending.append(event_id)
        # asyncpg dispatches each notification of one network read via call_soon,
        # so a task started by the first runs after the rest are queued: one fetch.
        if self._fetcher is None or self._fetcher.done():
            self._fetcher = asyncio.create_task(self._drain(), name="pgbus-fetch")

    async def _drain(self) -> None:
        while self._pending:
            ids = sorted(set(self._pending))
            self._pending.clear()
            try:
                events = await self._fetch_events(ids)
            except Exception:
                logger.exception("fetch_events failed for %d ids; resyncing", len(ids))
                self._local.mark_resync_needed()
                continue
            # Delivered in id order; ids no longer in the table are simply absent.
            for event in sorted(events, key=lambda e: e.id):
                self._local.deliver(event)

    @staticmethod
    async def _close_conn(conn: Any) -> None:
        if conn is None or conn.is_closed():
            return
        try:
            await conn.close(timeout=2)
        except Exception:
            conn.terminate()
