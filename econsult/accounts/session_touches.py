"""Keeping sessions fresh without queueing requests behind writers.

Refreshing a session's last-seen time is a write; on SQLite it would queue the request
behind every other writer (photo submissions). So it is written in the background, at
most once a `sessions.TOUCH_EVERY` per session, and every request's time is remembered
here, so this process holds the idle timeout to the second whatever the database
holds, however the writes are batched:

- `seen` has the newest activity this process noticed, updated by every request (a
  dict write) whether or not it starts a database write. An entry is kept after its
  write has committed: a request that read the row before that commit (PostgreSQL
  runs them side by side) still finds the time here. Entries older than the idle
  timeout can no longer keep a session alive, and are dropped;
- at most one write per session is in flight; it writes the newest time it knows; a
  request that read the row before this process's last write committed does not start
  another one for the same minute (`written`);
- the UPDATE only ever moves `last_seen_at` forward, so two writes finishing out of
  order (another process's, or a retry) never rewind it and end a session early.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from econsult.db import Database
from econsult.security import sessions

logger = logging.getLogger(__name__)


class SessionTouches:
    def __init__(self, db: Database, *, keep: timedelta = timedelta(hours=1)) -> None:
        """`keep`: how long a remembered time can matter (the idle timeout)."""
        self._db = db
        self._keep = keep
        self.seen: dict[int, datetime] = {}
        self._writing: set[int] = set()
        # The last time this process wrote per session: a request that resolved the row
        # before that write committed still asks for a touch, which is not needed.
        self._written: dict[int, datetime] = {}
        self._every = min(sessions.TOUCH_EVERY, keep / 4)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pruned_at: datetime | None = None

    def record(self, session_id: int, now: datetime, *, write: bool = True) -> None:
        """Note activity at `now`; with `write`, also store it (in the background)."""
        known = self.seen.get(session_id)
        if known is None or now > known:
            self.seen[session_id] = now
        self._prune(now)
        if not write or session_id in self._writing:
            return
        written = self._written.get(session_id)
        if written is not None and now - written < self._every:
            return
        self._writing.add(session_id)
        task = asyncio.create_task(self._write(session_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < sessions.TOUCH_EVERY:
            return
        self._pruned_at = now
        horizon = now - self._keep
        for session_id in [k for k, at in self.seen.items() if at < horizon]:
            del self.seen[session_id]
            self._written.pop(session_id, None)

    async def drain(self) -> None:
        """Let pending writes finish (at shutdown, before the engines close)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _write(self, session_id: int) -> None:
        try:
            at = self.seen.get(session_id)
            if at is None:
                return
            async with self._db.write() as db:
                await sessions.touch(db, session_id, now=at)
            self._written[session_id] = at
        except Exception:  # the in-memory time still holds; the next touch retries
            logger.exception("could not refresh session %s", session_id)
        finally:
            self._writing.discard(session_id)
