"""What happens when a deadline passes: escalation of an unacknowledged consult, and
the at-risk and breached marks on the response clock.

Every change is claimed atomically (`UPDATE ... WHERE` the state the decision was
made from, then exactly one row changed), so two server processes looking at the same
deadline can never both act on it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines
from econsult.consults.deps import ConsultDeps
from econsult.consults.event_types import EventType
from econsult.consults.event_types import EventType as E
from econsult.consults.events import Recorder, Snapshot
from econsult.consults.routing_io import load_specialty, next_escalation, targets_of
from econsult.models import Consult, ConsultState, User
from econsult.routing.decision import DecisionKind
from econsult.routing.targets import Urgency
from econsult.security import audit
from econsult.security.audit import SYSTEM

logger = logging.getLogger(__name__)
S = ConsultState
_RUNNING = (S.assigned.value, S.pooled.value, S.in_review.value)
BATCH = 200


def _due_clause(now: datetime) -> object:
    return or_(
        and_(col(Consult.state) == S.assigned.value, col(Consult.ack_due_at) <= now),
        and_(col(Consult.state).in_(_RUNNING), col(Consult.at_risk_at).is_(None),
             col(Consult.at_risk_due_at) <= now),
        and_(col(Consult.state).in_(_RUNNING), col(Consult.breached_at).is_(None),
             col(Consult.respond_due_at) <= now),
    )


async def next_deadline(deps: ConsultDeps) -> datetime | None:
    """The earliest pending deadline across all consults (three indexed lookups)."""
    async with deps.db.read() as db:
        ack = (await db.execute(select(func.min(Consult.ack_due_at)).where(
            col(Consult.state) == S.assigned.value))).scalar()
        risk = (await db.execute(select(func.min(Consult.at_risk_due_at)).where(
            col(Consult.state).in_(_RUNNING), col(Consult.at_risk_at).is_(None)))).scalar()
        breach = (await db.execute(select(func.min(Consult.respond_due_at)).where(
            col(Consult.state).in_(_RUNNING), col(Consult.breached_at).is_(None)))).scalar()
    found = [d for d in (ack, risk, breach) if d is not None]
    if not found:
        return None
    from econsult.models.types import UTCDateTime

    # func.min() loses the column type on SQLite; normalise to aware UTC.
    return min(UTCDateTime().process_result_value(d, None) or d  # type: ignore[arg-type]
               for d in found)


async def process_due(deps: ConsultDeps, now: datetime | None = None) -> int:
    """Act on every deadline that has passed; returns how many steps were taken."""
    now = now or deps.clock.now()
    async with deps.db.read() as db:
        ids = list((await db.execute(select(col(Consult.id)).where(_due_clause(now))  # type: ignore[arg-type]
                                     .order_by(col(Consult.submitted_at)).limit(BATCH))
                    ).scalars())
    done = 0
    for consult_id in ids:
        try:
            done += await _process_one(deps, consult_id, now)
        except Exception:  # one bad consult must not stop the others' deadlines
            logger.exception("deadline processing failed for consult %s", consult_id)
    return done


async def _process_one(deps: ConsultDeps, consult_id: str, now: datetime) -> int:
    recorder = Recorder()
    steps = 0
    async with deps.db.write() as db:
        consult = await db.get(Consult, consult_id)
        if consult is None:
            return 0
        if consult.state == S.assigned and consult.ack_due_at and consult.ack_due_at <= now:
            steps += await _escalate(deps, db, consult, now, recorder)
        running = consult.state in _RUNNING
        if running and consult.at_risk_at is None and consult.at_risk_due_at \
                and consult.at_risk_due_at <= now:
            steps += await _mark(db, consult, now, recorder, "at_risk")
        if running and consult.breached_at is None and consult.respond_due_at \
                and consult.respond_due_at <= now:
            steps += await _mark(db, consult, now, recorder, "breached")
    await deps.publish(recorder.bus_events())
    due = deadlines.next_due(consult)
    if due is not None:
        deps.wake(due)
    return steps


async def _escalate(deps: ConsultDeps, db: AsyncSession, consult: Consult, now: datetime,
                    recorder: Recorder) -> int:
    specialty = await load_specialty(db, consult.specialty)
    tried = frozenset(json.loads(consult.escalation_tried or "[]"))
    old_assignee, old_due = consult.assigned_to, consult.ack_due_at
    decision = await next_escalation(db, consult=consult, specialty=specialty, tried=tried,
                                     now=now, tz=deps.settings.timezone)
    assigned = decision.kind is DecisionKind.ASSIGN
    new_tried = sorted(tried | ({old_assignee} if old_assignee else set()))
    target = targets_of(specialty)[Urgency(consult.urgency)]
    values = {
        "state": S.assigned.value if assigned else S.pooled.value,
        "assigned_to": decision.specialist_id,
        "ack_due_at": deadlines.ack_deadline(now, target, deps.calendar) if assigned else None,
        "escalation_tried": json.dumps(new_tried),
        "escalations": consult.escalations + 1,
        "updated_at": now,
    }
    claimed = await db.execute(
        update(Consult)
        .where(col(Consult.id) == consult.id, col(Consult.state) == S.assigned.value,
               col(Consult.assigned_to) == old_assignee, col(Consult.ack_due_at) == old_due)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return 0  # another process got there first
    previous = Snapshot.of(consult)
    for key, value in values.items():
        setattr(consult, key, value)
    if assigned:
        await db.execute(update(User).where(col(User.id) == decision.specialist_id)
                         .values(last_assigned_at=now))
    await recorder.add(db, consult, E.escalated, actor_id=None, at=now, previous=previous,
                       escalated=True, reason=decision.reason)
    if not assigned:
        await recorder.add(db, consult, E.pooled, actor_id=None, at=now, reason=decision.reason)
    await audit.append(db, actor=SYSTEM, action="consult.escalate", at=now,
                       object_type="consult", object_id=consult.id,
                       detail=f"from={old_assignee} to={decision.specialist_id or 'pool'}")
    return 1


async def _mark(db: AsyncSession, consult: Consult, now: datetime, recorder: Recorder,
                kind: str) -> int:
    column = Consult.at_risk_at if kind == "at_risk" else Consult.breached_at
    values: dict[str, object] = {kind + "_at": now}
    if kind == "at_risk":
        values["at_risk_due_at"] = None
    claimed = await db.execute(
        update(Consult).where(col(Consult.id) == consult.id, col(column).is_(None))
        .values(**values).execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return 0
    for key, value in values.items():
        setattr(consult, key, value)
    await recorder.add(db, consult, EventType(kind), actor_id=None, at=now)
    return 1
