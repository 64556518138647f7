"""Event rows for the timeline, and the bus events published once they commit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.ext.asyncio import AsyncSession

from econsult.consults.event_types import EventType, check_payload
from econsult.db.precompiled import Precompiled
from econsult.models import Consult, ConsultEvent
from econsult.models.loaded import as_loaded
from econsult.realtime.events import QUEUE_FIELDS, BusEvent
from econsult.security.policy import event_audience

_EVENTS = ConsultEvent.__table__  # type: ignore[attr-defined]
_INSERT_EVENTS = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_INSERT_EVENT = Precompiled(insert(_EVENTS))


@dataclass
class Recorder:
    """Collects the events one transaction writes, to publish after it commits."""

    rows: list[tuple[ConsultEvent, frozenset[str], dict[str, Any]]] = field(default_factory=list)

    async def add(
        self,
        db: AsyncSession,
        consult: Consult,
        type_: EventType,
        *,
        actor_id: int | None,
        at: datetime,
        previous: Snapshot | None = None,
        **data: Any,
    ) -> ConsultEvent:
        row = self.stage(consult, type_, actor_id=actor_id, at=at, previous=previous, **data)
        db.add(row)
        await db.flush()  # the id orders the timeline and is the client's resume point
        return row

    def stage(
        self,
        consult: Consult,
        type_: EventType,
        *,
        actor_id: int | None,
        at: datetime,
        previous: Snapshot | None = None,
        **data: Any,
    ) -> ConsultEvent:
        """The event row, kept for publishing; written by `add` or `insert_staged`."""
        check_payload(type_, data)
        groups = event_audience(consult, previous)
        queue = queue_fields(consult, previous, actor_id, data)
        # Who may hear of the event and what a queue row shows are stored with it, so a
        # reconnecting client (or another process) replays exactly what was published.
        stored = {**data, "_groups": sorted(groups), "_queue": queue}
        row = as_loaded(ConsultEvent, {
            "consult_id": consult.id, "type": type_.value, "actor_id": actor_id, "at": at,
            "data": json.dumps(stored, default=str, separators=(",", ":"))})
        self.rows.append((row, groups, queue))
        return row

    def insert_staged(self, conn: Connection) -> None:
        """Write the staged rows not yet written, in order, in one statement (on a
        synchronous connection inside the caller's transaction), and give them their ids."""
        todo = [row for row, _, _ in self.rows if row.id is None]
        if not todo:
            return
        values = [{"consult_id": r.consult_id, "type": r.type, "actor_id": r.actor_id,
                   "at": r.at, "data": r.data} for r in todo]
        if conn.dialect.name == "sqlite":  # one precompiled INSERT each, its rowid the id
            for row, value in zip(todo, values, strict=True):
                row.id = _INSERT_EVENT.run(conn, value)
            return
        ids = conn.execute(_INSERT_EVENTS, values).scalars().all()
        for row, id_ in zip(todo, ids, strict=True):
            row.id = int(id_)

    def bus_events(self) -> list[BusEvent]:
        return [
            BusEvent(
                id=row.id or 0,
                type=row.type,
                consult_id=row.consult_id,
                at=row.at,
                groups=groups,
                data=data,
            )
            for row, groups, data in self.rows
        ]


@dataclass(frozen=True)
class Snapshot:
    """Where a consult was before a step, so that its old queue hears it left."""

    gp_id: int
    state: str
    assigned_to: int | None
    specialty: str

    @classmethod
    def of(cls, consult: Consult) -> Snapshot:
        return cls(consult.gp_id, consult.state, consult.assigned_to, consult.specialty)


def queue_fields(
    consult: Consult, previous: Snapshot | None, actor_id: int | None, data: dict[str, Any]
) -> dict[str, object]:
    fields: dict[str, object] = {
        "state": consult.state,
        "urgency": consult.urgency,
        "specialty": consult.specialty,
        "assigned_to": consult.assigned_to,
        "due_at": consult.respond_due_at.isoformat() if consult.respond_due_at else None,
        "ack_due_at": consult.ack_due_at.isoformat() if consult.ack_due_at else None,
        "at_risk": consult.at_risk_at is not None,
        "breached": consult.breached_at is not None,
        "actor": actor_id,
    }
    if previous is not None:
        fields["previous_state"] = previous.state
        fields["previous_assigned_to"] = previous.assigned_to
        if previous.specialty != consult.specialty:
            fields["previous_specialty"] = previous.specialty
    for key, value in data.items():
        if key in QUEUE_FIELDS and key not in fields:
            fields[key] = value
    return fields


