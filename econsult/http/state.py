"""The shared resources of one process, built once in the app's lifespan (`econsult.app`)
and reached by handlers through `app_state(request)`; nothing is created at import.

Services never see this class: they declare the parts they use (for instance
`econsult.consults.deps.ConsultDeps`), and this object provides them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from econsult.accounts.session_touches import SessionTouches
from econsult.clock import Clock
from econsult.config import Settings
from econsult.consults.scheduler import DeadlineScheduler
from econsult.db import Database
from econsult.images.store import BlobStore
from econsult.images.workers import ImageWorkers
from econsult.ops.audit_chain import ChainMonitor
from econsult.ops.rota_replay import ReplayJobs
from econsult.realtime.bus import EventBus
from econsult.realtime.events import BusEvent
from econsult.realtime.notify import Notifier
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring
from econsult.security.passwords import Passwords
from econsult.turnaround.calendar import BusinessCalendar


@dataclass(frozen=True)
class AppState:
    settings: Settings
    db: Database
    keyring: Keyring
    fields: FieldCipher
    clock: Clock
    calendar: BusinessCalendar
    workers: ImageWorkers
    blobs: BlobStore
    bus: EventBus
    scheduler: DeadlineScheduler
    notifier: Notifier
    session_touches: SessionTouches
    audit: GroupRecorder
    passwords: Passwords
    templates: Jinja2Templates
    # The audit chain's status for /audit, checked incrementally (ops.audit_chain).
    audit_chain: ChainMonitor = field(default_factory=ChainMonitor)
    # Rota replays running or finished in this process (ops.rota_replay, issue 18).
    replays: ReplayJobs = field(default_factory=ReplayJobs)

    async def publish(self, events: Sequence[BusEvent]) -> None:
        for event in events:
            await self.bus.publish(event)

    def wake(self, when: datetime) -> None:
        self.scheduler.wake(when)


def app_state(conn: HTTPConnection | Starlette) -> AppState:
    """The application state of the app serving this request or socket (or of the app
    itself, for tests and tools that hold it)."""
    app = conn if isinstance(conn, Starlette) else conn.app
    state: AppState = app.state.econsult
    return state
