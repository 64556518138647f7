"""create_app(settings) -> the Starlette application, wired explicitly.

The lifespan builds the one `AppState` (database, keys, workers, bus, scheduler, ...)
and tears it down in reverse; nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware

from econsult.accounts.session_touches import SessionTouches
from econsult.clock import Clock, SystemClock, zone_data_version
from econsult.config import Settings
from econsult.consults.scheduler import DeadlineScheduler
from econsult.db import Database
from econsult.db.schema import check_schema_current
from econsult.fhir.routes import routes as fhir_routes
from econsult.http.auth import AuthMiddleware
from econsult.http.errors import EXCEPTION_HANDLERS
from econsult.http.input_guard import InputGuardMiddleware
from econsult.http.routes import all_routes
from econsult.http.security_headers import SecurityHeadersMiddleware
from econsult.http.state import AppState
from econsult.http.templating import make_templates
from econsult.images.blobstores import blob_store_for
from econsult.images.workers import ImageWorkers
from econsult.ops.audit_chain import ChainMonitor
from econsult.ops.audit_keys import checkpoints_path, run_checkpoints
from econsult.ops.integrity import startup_gc
from econsult.realtime.bus import EventBus, InMemoryBus
from econsult.realtime.events import BusEvent
from econsult.realtime.notify import Notifier
from econsult.realtime.pgbus import PostgresBus
from econsult.realtime.replay import events_by_id
from econsult.security import audit
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring
from econsult.security.keywatch import KeyFileWatcher
from econsult.security.passwords import Passwords
from econsult.turnaround import rollups
from econsult.turnaround.calendar import program_calendar

logger = logging.getLogger(__name__)


def _make_bus(settings: Settings, db: Database) -> EventBus:
    """In-process on SQLite (one process by design); LISTEN/NOTIFY on PostgreSQL, so
    several workers and machines hear each other's events."""
    if settings.is_sqlite:
        return InMemoryBus()

    async def fetch(ids: list[int]) -> list[BusEvent]:
        async with db.read() as session:
            return await events_by_id(session, ids)

    return PostgresBus(settings.database_url, fetch_events=fetch)


@asynccontextmanager
async def _running(settings: Settings, clock: Clock, passwords: Passwords
                   ) -> AsyncIterator[AppState]:
    """Build every shared resource, yield them as one state, close them in reverse."""
    async with AsyncExitStack() as stack:
        keyring = load_keyring(settings.master_key, settings.key_file)
        db = Database.from_settings(settings)
        stack.push_async_callback(db.dispose)
        audit.attach(db, keyring)  # the audit chain's MACs, under the keyring held here
        await check_schema_current(db)
        workers = ImageWorkers(kind="process" if settings.image_pool == "process" else "thread",
                               size=settings.image_workers, max_pixels=50_000_000)
        stack.callback(workers.shutdown, wait=True)
        bus = _make_bus(settings, db)
        await bus.start()
        stack.push_async_callback(bus.close)
        notifier = Notifier(settings, db, bus)
        state = AppState(
            settings=settings, db=db, keyring=keyring, fields=FieldCipher(keyring),
            clock=clock, calendar=program_calendar(settings), workers=workers,
            blobs=blob_store_for(settings), bus=bus, scheduler=DeadlineScheduler(),
            notifier=notifier, session_touches=SessionTouches(
                db, keep=timedelta(minutes=settings.session_idle_minutes)),
            audit=GroupRecorder(db), passwords=passwords,
            templates=make_templates(settings.timezone),
            audit_chain=ChainMonitor(checkpoints=checkpoints_path(settings)),
        )
        stack.push_async_callback(state.audit_chain.close)
        if settings.scheduler_enabled:
            state.scheduler.start(state)
        stack.push_async_callback(state.scheduler.stop)
        # Emails for people not looking at the page; consumes post-commit events.
        await notifier.start()
        stack.push_async_callback(notifier.stop)
        background = [
            # Blobs written for submissions that never committed (a crash between blob
            # and row) are removed once they are an hour old.
            asyncio.create_task(startup_gc(db, state.blobs), name="startup-gc"),
        ]
        if settings.audit_checkpoint_seconds:
            background.append(asyncio.create_task(run_checkpoints(
                db, settings, clock, settings.audit_checkpoint_seconds),
                name="audit-checkpoints"))
        if settings.scheduler_enabled:
            # Per-day turnaround rollups: reconciled at start, refreshed every minute.
            background.append(asyncio.create_task(rollups.maintain(db, clock),
                                                  name="turnaround-rollups"))
        if not settings.master_key:
            watcher = KeyFileWatcher(keyring, settings.key_file)
            background.append(asyncio.create_task(watcher.run(), name="key-file-watch"))
        stack.push_async_callback(_cancel_all, background)
        stack.push_async_callback(state.session_touches.drain)
        yield state


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               passwords: Passwords | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    passwords = passwords or Passwords()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logger.info("time zone %s, zone data %s", settings.timezone, zone_data_version())
        async with _running(settings, clock, passwords) as state:
            app.state.econsult = state
            yield

    return Starlette(
        routes=[*fhir_routes(), *all_routes()],
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=settings.cookie_secure),
            Middleware(InputGuardMiddleware),
            Middleware(AuthMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
