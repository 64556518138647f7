"""One transaction on one consult: the frame every lifecycle step runs in.

`step()` loads the consult inside a write transaction, asks the policy who may act
(anyone else gets 404, exactly like an unknown id) and the state machine whether the
step is legal now (409), then publishes the events the step wrote once it commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines, states
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType
from econsult.consults.events import Recorder, Snapshot
from econsult.consults.ids import is_uuid
from econsult.consults.routing_io import load_specialty, targets_of
from econsult.errors import NotFound
from econsult.models import Consult, ConsultEvent
from econsult.routing.targets import Target, Urgency
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require


@dataclass
class Step:
    """One transaction on one consult, as the functions below use it."""

    db: AsyncSession
    consult: Consult
    previous: Snapshot
    now: datetime
    recorder: Recorder
    actor: Actor

    async def event(self, type_: EventType, **data: object) -> ConsultEvent:
        return await self.recorder.add(
            self.db,
            self.consult,
            type_,
            actor_id=self.actor.id,
            at=self.now,
            previous=self.previous,
            **data,
        )

    async def audit(self, action: str, detail: str = "") -> None:
        await audit.append(
            self.db,
            actor=self.actor,
            action=action,
            at=self.now,
            object_type="consult",
            object_id=self.consult.id,
            detail=detail,
        )


@asynccontextmanager
async def step(
    deps: ConsultDeps, user: Principal, consult_id: str, action: Action, step: str | None,
    client_addr: str,
) -> AsyncIterator[Step]:
    """`step` names the state-machine step to check; None when the caller checks it
    itself once it knows more (a message's step depends on who writes it)."""
    recorder = Recorder()
    async with deps.db.write() as db:
        consult = await db.get(Consult, consult_id) if is_uuid(consult_id) else None
        # Unknown and not-yours look the same, so ids cannot be probed.
        if consult is None:
            raise NotFound("Consult not found.")
        require(user, action, consult, what="Consult not found.")
        if step is not None:
            states.require(step, consult.state)
        now = deps.clock.now()
        ctx = Step(
            db,
            consult,
            Snapshot.of(consult),
            now,
            recorder,
            Actor(user.id, user.email, client_addr),
        )
        yield ctx
        consult.updated_at = now
    await deps.publish(recorder.bus_events())
    due = deadlines.next_due(ctx.consult)
    if due is not None:
        deps.wake(due)


async def consult_events(db: AsyncSession, consult_id: str) -> list[ConsultEvent]:
    return list(
        (
            await db.execute(
                select(ConsultEvent)
                .where(col(ConsultEvent.consult_id) == consult_id)
                .order_by(col(ConsultEvent.id))
            )
        ).scalars()
    )


async def consult_target(db: AsyncSession, consult: Consult) -> Target:
    return targets_of(await load_specialty(db, consult.specialty))[Urgency(consult.urgency)]
