"""What the consult services need from the process, bundled once in the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.images.store import BlobStore
from econsult.images.workers import ImageWorkers
from econsult.realtime.events import BusEvent
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring
from econsult.turnaround.calendar import BusinessCalendar

Publish = Callable[[Sequence[BusEvent]], Awaitable[None]]


async def _no_publish(events: Sequence[BusEvent]) -> None:
    return None


def _no_wake(when: datetime) -> None:
    return None


@dataclass
class Services:
    settings: Settings
    db: Database
    fields: FieldCipher
    clock: Clock
    calendar: BusinessCalendar
    keyring: Keyring
    workers: ImageWorkers
    blobs: BlobStore
    # Called after commit with the events the transaction wrote.
    publish: Publish = _no_publish
    # Tells the deadline scheduler a new deadline exists (it may be earlier than the
    # one it is sleeping towards).
    wake: Callable[[datetime], None] = _no_wake
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def calendar_for(cls, settings: Settings) -> BusinessCalendar:
        start, end = settings.business_hours
        return BusinessCalendar(settings.timezone, start, end, region=settings.holidays_region)
