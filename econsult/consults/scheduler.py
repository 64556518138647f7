"""The deadline scheduler: sleeps until the earliest pending deadline, wakes early when
told of an earlier one, and reads every deadline from the database when it starts, so
a restart misses nothing. Absences are deadlines too: when one starts, what its
specialist holds goes back to routing (`absences`). No polling loop: it sleeps at most
MAX_SLEEP, which only bounds how late it notices deadlines created by *other*
processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from econsult.consults import drafts
from econsult.consults.absences import next_absence_start, process_started_absences
from econsult.consults.deps import ConsultDeps
from econsult.consults.escalation import next_deadline, process_due

logger = logging.getLogger(__name__)
MAX_SLEEP = 30.0
# Expired drafts are swept at most this often (they expire in days, not minutes).
DRAFT_SWEEP_EVERY = timedelta(hours=1)


class DeadlineScheduler:
    def __init__(self, *, max_sleep: float = MAX_SLEEP) -> None:
        self.max_sleep = max_sleep
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sleeping_until: datetime | None = None
        self._drafts_swept_at: datetime | None = None

    def wake(self, when: datetime) -> None:
        """A deadline at `when` exists; wake if it is earlier than the current plan."""
        if self._sleeping_until is None or when < self._sleeping_until:
            self._woken.set()

    def start(self, deps: ConsultDeps) -> None:
        self._task = asyncio.create_task(self._run(deps), name="econsult-deadlines")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self, deps: ConsultDeps) -> float:
        """Process what is due; return how long to sleep before the next deadline."""
        await process_due(deps)
        await process_started_absences(deps)
        await self._sweep_drafts(deps)
        found = [d for d in (await next_deadline(deps), await next_absence_start(deps)) if d]
        upcoming = min(found) if found else None
        self._sleeping_until = upcoming
        if upcoming is None:
            return self.max_sleep
        delay = (upcoming - deps.clock.now()).total_seconds()
        return min(max(delay, 0.0), self.max_sleep)

    async def _sweep_drafts(self, deps: ConsultDeps) -> None:
        now = deps.clock.now()
        if self._drafts_swept_at is not None and now - self._drafts_swept_at < DRAFT_SWEEP_EVERY:
            return
        self._drafts_swept_at = now
        removed = await drafts.remove_expired(deps)
        if removed:
            logger.info("removed %d drafts older than %d days", removed,
                        deps.settings.draft_days)

    async def _run(self, deps: ConsultDeps) -> None:
        while True:
            # Cleared before the pass, so a wake() during it is not lost.
            self._woken.clear()
            try:
                delay = await self.run_once(deps)
            except Exception:  # keep the scheduler alive; retry a little later
                logger.exception("deadline scheduler pass failed")
                delay = 5.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=delay)
