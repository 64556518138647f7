"""create_app(settings) -> the Starlette application, wired explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from econsult.clock import Clock, SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.http.auth import AuthMiddleware
from econsult.http.context import AppContext
from econsult.http.errors import EXCEPTION_HANDLERS
from econsult.http.routes import all_routes
from econsult.http.security_headers import SecurityHeadersMiddleware
from econsult.http.templating import make_templates
from econsult.schema import check_schema_current
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        keyring = load_keyring(settings.master_key, settings.key_file)
        db = Database.from_settings(settings)
        try:
            await check_schema_current(db)
            app.state.ctx = AppContext(settings=settings, db=db, keyring=keyring,
                                       fields=FieldCipher(keyring), clock=clock)
            yield
        finally:
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
