"""What the consult services use of the process: a typed view of the application state.

`econsult.http.state.AppState` provides all of it (built once in the app's lifespan);
a test or a simulation may pass anything with the same members. Services take this,
never the web layer's objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.images.store import BlobStore
from econsult.images.workers import ImageWorkers
from econsult.realtime.events import BusEvent
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring
from econsult.turnaround.calendar import BusinessCalendar


class ConsultDeps(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def keyring(self) -> Keyring: ...
    @property
    def fields(self) -> FieldCipher: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def calendar(self) -> BusinessCalendar: ...
    @property
    def workers(self) -> ImageWorkers: ...
    @property
    def blobs(self) -> BlobStore: ...
    @property
    def audit(self) -> GroupRecorder: ...

    async def publish(self, events: Sequence[BusEvent]) -> None:
        """Deliver events a transaction wrote, after it committed."""
        ...

    def wake(self, when: datetime) -> None:
        """A deadline exists at `when` (it may be earlier than the one the scheduler
        sleeps towards)."""
        ...
