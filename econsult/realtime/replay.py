"""Reading committed events back from the ``consult_events`` table as bus events: for a
socket that reconnects (``/ws?after=ID``), for a subscriber that lagged, and for ids
heard over PostgreSQL LISTEN/NOTIFY (which carries ids only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
from econsult.models import ConsultEvent
from econsult.realtime.events import BusEvent


def bus_event_from_row(row: ConsultEvent) -> BusEvent:
    stored = json.loads(row.data or "{}")
    return BusEvent(id=row.id or 0, type=row.type, consult_id=row.consult_id, at=row.at,
                    groups=frozenset(stored.get("_groups", [])), data=stored.get("_queue", {}))


async def events_after(db: AsyncSession, after_id: int, groups: frozenset[str], *,
                       limit: int = 1000) -> tuple[list[BusEvent], int | None]:
    """One page of events after `after_id` that any of `groups` may hear of, oldest
    first, and the last id scanned (None when there was nothing more): call again from
    that id until it returns None."""
    rows = list((await db.execute(
        select(ConsultEvent).where(col(ConsultEvent.id) > after_id)
        .order_by(col(ConsultEvent.id)).limit(limit)
    )).scalars())
    events = (bus_event_from_row(r) for r in rows)
    last = rows[-1].id if len(rows) == limit else None
    return [e for e in events if e.groups & groups], last


async def events_by_id(db: AsyncSession, ids: list[int]) -> list[BusEvent]:
    """Full events for ids heard over LISTEN/NOTIFY (which carries ids only)."""
    rows = (await db.execute(select(ConsultEvent).where(col(ConsultEvent.id).in_(ids))
                             .order_by(col(ConsultEvent.id)))).scalars()
    return [bus_event_from_row(r) for r in rows]


async def replay(db: Database, after_id: int, groups: frozenset[str]) -> AsyncIterator[BusEvent]:
    """Every event after `after_id` that any of `groups` may hear of, oldest first, one
    short read transaction per page."""
    cursor: int | None = after_id
    while cursor is not None:
        async with db.read() as session:
            events, cursor = await events_after(session, cursor, groups)
        for event in events:
            yield event
