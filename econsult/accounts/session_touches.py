"""Keeping sessions fresh without queueing requests behind writers.

Refreshing a session's last-seen time is a write; on SQLite it would queue the request
behind every other writer (photo submissions). So it is written in the background, and
remembered here meanwhile so this process never idles out a session it has just seen.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from econsult.db import Database
from econsult.security import sessions

logger = logging.getLogger(__name__)


class SessionTouches:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.seen: dict[int, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, session_id: int, now: datetime) -> None:
        self.seen[session_id] = now
        task = asyncio.create_task(self._write(session_id, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Let pending writes finish (at shutdown, before the engines close)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _write(self, session_id: int, now: datetime) -> None:
        try:
            async with self._db.write() as db:
                await sessions.touch(db, session_id, now=now)
        except Exception:  # the in-memory time still holds; the next touch retries
            logger.exception("could not refresh session %s", session_id)
        else:
            if self.seen.get(session_id) == now:
                del self.seen[session_id]
