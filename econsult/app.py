"""create_app(settings) -> the Starlette application, wired explicitly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from econsult.clock import Clock, SystemClock
from econsult.config import Settings
from econsult.consults.events import events_by_id
from econsult.consults.scheduler import DeadlineScheduler
from econsult.consults.services import Services
from econsult.db import Database
from econsult.http.auth import AuthMiddleware
from econsult.http.context import AppContext
from econsult.http.errors import EXCEPTION_HANDLERS
from econsult.http.routes import all_routes
from econsult.http.security_headers import SecurityHeadersMiddleware
from econsult.http.templating import make_templates
from econsult.images.blobstores import blob_store_for
from econsult.images.workers import ImageWorkers
from econsult.maintenance import startup_gc
from econsult.realtime.bus import EventBus, InMemoryBus
from econsult.realtime.events import BusEvent
from econsult.realtime.notify import Notifier
from econsult.realtime.pgbus import PostgresBus
from econsult.schema import check_schema_current
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring
from econsult.security.keywatch import KeyFileWatcher


def _make_bus(settings: Settings, db: Database) -> EventBus:
    """In-process on SQLite (one process by design); LISTEN/NOTIFY on PostgreSQL, so
    several workers and machines hear each other's events."""
    if settings.is_sqlite:
        return InMemoryBus()

    async def fetch(ids: list[int]) -> list[BusEvent]:
        async with db.read() as session:
            return await events_by_id(session, ids)

    return PostgresBus(settings.database_url, fetch_events=fetch)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keyring = load_keyring(settings.master_key, settings.key_file)
        db = Database.from_settings(settings)
        workers = ImageWorkers(kind="process" if settings.image_pool == "process" else "thread",
                               size=settings.image_workers,
                               max_pixels=50_000_000)
        bus = _make_bus(settings, db)
        scheduler: DeadlineScheduler | None = None
        notifier: Notifier | None = None
        background: list[asyncio.Task[None]] = []
        try:
            await check_schema_current(db)
            await bus.start()

            async def publish(events: Sequence[BusEvent]) -> None:
                for event in events:
                    await bus.publish(event)

            fields = FieldCipher(keyring)
            svc = Services(settings=settings, db=db, fields=fields, clock=clock,
                           calendar=Services.calendar_for(settings), keyring=keyring,
                           workers=workers, blobs=blob_store_for(settings),
                           publish=publish)
            # Blobs written for submissions that never committed (a crash between blob
            # and row) are removed in the background, once they are an hour old.
            background.append(asyncio.create_task(startup_gc(db, svc.blobs), name="startup-gc"))
            if not settings.master_key:
                watcher = KeyFileWatcher(keyring, settings.key_file)
                background.append(asyncio.create_task(watcher.run(), name="key-file-watch"))
            scheduler = DeadlineScheduler(svc)
            svc.wake = scheduler.wake
            if settings.scheduler_enabled:
                scheduler.start()
            # Emails for people not looking at the page; consumes post-commit events.
            notifier = Notifier(settings, db, bus)
            await notifier.start()
            app.state.ctx = AppContext(settings=settings, db=db, keyring=keyring, fields=fields,
                                       clock=clock, extras={"services": svc, "bus": bus,
                                                            "scheduler": scheduler})
            yield
        finally:
            ctx = getattr(app.state, "ctx", None)
            if ctx is not None and "session_touches" in ctx.extras:
                await ctx.extras["session_touches"].drain()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if notifier is not None:
                await notifier.stop()
            if scheduler is not None:
                await scheduler.stop()
            await bus.close()
            workers.shutdown(wait=True)
            await db.dispose()

    app = Starlette(
        routes=all_routes(),
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=settings.cookie_secure),
            Middleware(AuthMiddleware),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.templates = make_templates(settings.timezone)
    app.state.settings = settings
    return app
