"""The shared resources one process uses, created in the lifespan and reached
through the request (never import-time globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring


@dataclass
class AppContext:
    settings: Settings
    db: Database
    keyring: Keyring
    fields: FieldCipher
    clock: Clock
    # Filled in by later subsystems (event bus, image workers, blob store, scheduler).
    extras: dict[str, Any] = field(default_factory=dict)


def get_ctx(conn: HTTPConnection) -> AppContext:
    ctx: AppContext = conn.app.state.ctx
    return ctx
