"""Nothing stranded: an open consult whose holder can no longer act on it goes back to
routing (the next specialist on call, else the specialty's pool), with an event that
says why.

Holders stop being able to act when their account is disabled, a specialty is taken
from them, their role changes, or an absence starts. Those services call
`hand_back_held` inside their own write transaction, so the change and the moves
commit together; the events go out after the commit (`publish_moves`).

Moving a consult never touches its response clock (submission, pauses, the response
deadline, the at-risk and breached marks): the GP has been waiting all along. A new
holder gets a fresh acknowledge window, which only drives escalation. A consult
waiting for the GP keeps that state (the pause must end with the GP's reply); with
nobody to hold it, the GP's reply sends it to routing (`ensure_held`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.config import Settings
from econsult.consults import deadlines
from econsult.consults.event_types import EventType as E
from econsult.consults.events import Recorder, Snapshot
from econsult.consults.routing_io import load_specialty, route, targets_of
from econsult.db import Database
from econsult.models import OPEN_STATES, Consult, ConsultState, RotaAbsence, User, UserSpecialty
from econsult.realtime.events import BusEvent
from econsult.routing.decision import Decision
from econsult.routing.targets import Target, Urgency
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Principal, may_hold
from econsult.turnaround.calendar import BusinessCalendar

S = ConsultState
_OPEN = sorted(s.value for s in OPEN_STATES)


class Why(StrEnum):
    holder_disabled = "holder_disabled"
    specialty_removed = "specialty_removed"
    role_changed = "role_changed"
    holder_absent = "holder_absent"
    holder_cannot_act = "holder_cannot_act"  # found stranded when the GP wrote


WHY_TEXT = {
    Why.holder_disabled: "its specialist's account was disabled",
    Why.specialty_removed: "its specialist no longer holds the specialty",
    Why.role_changed: "its specialist is no longer a specialist",
    Why.holder_absent: "its specialist is away",
    Why.holder_cannot_act: "its specialist could no longer act on it",
}


class HandbackDeps(Protocol):
    """What moving consults needs of the process (`AppState` provides it)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def calendar(self) -> BusinessCalendar: ...

    async def publish(self, events: Sequence[BusEvent]) -> None: ...

    def wake(self, when: datetime) -> None: ...


@dataclass
class Moves:
    """What one transaction moved: its events to publish, and deadlines to watch."""

    recorder: Recorder
    consults: list[Consult]

    @classmethod
    def new(cls) -> Moves:
        return cls(Recorder(), [])


def held_filter(holder_id: int, specialties: Collection[str] | None) -> list[object]:
    where: list[object] = [col(Consult.assigned_to) == holder_id, col(Consult.state).in_(_OPEN)]
    if specialties is not None:
        where.append(col(Consult.specialty).in_(sorted(specialties)))
    return where


async def count_held(db: AsyncSession, holder_id: int,
                     specialties: Collection[str] | None = None) -> int:
    """How many open consults `holder_id` holds (of `specialties`, or of any)."""
    found = await db.execute(select(func.count()).select_from(Consult)
                             .where(*held_filter(holder_id, specialties)))  # type: ignore[arg-type]
    return int(found.scalar() or 0)


async def hand_back_held(
    deps: HandbackDeps, db: AsyncSession, *, holder_id: int, why: Why, actor: Actor,
    now: datetime, moves: Moves, specialties: Collection[str] | None = None,
) -> int:
    """Route away every open consult `holder_id` holds (of `specialties`, or all),
    inside the caller's transaction. Returns how many moved."""
    consults = list((await db.execute(
        select(Consult).where(*held_filter(holder_id, specialties))  # type: ignore[arg-type]
        .order_by(col(Consult.respond_due_at).asc().nulls_last(), col(Consult.submitted_at))
    )).scalars())
    for consult in consults:
        await hand_back(deps, db, consult, why=why, actor=actor, now=now, moves=moves,
                        exclude=frozenset({holder_id}))
    return len(consults)


async def hand_back(
    deps: HandbackDeps, db: AsyncSession, consult: Consult, *, why: Why, actor: Actor,
    now: datetime, moves: Moves, exclude: frozenset[int] = frozenset(),
) -> Decision:
    """Route one consult again (next on call, not `exclude`, else the pool)."""
    specialty = await load_specialty(db, consult.specialty)
    previous = Snapshot.of(consult)
    decision = await route(db, specialty=specialty, urgency=consult.urgency, now=now,
                           tz=deps.settings.timezone, exclude=exclude)
    place(deps, consult, decision.specialist_id, now=now,
          target=targets_of(specialty)[Urgency(consult.urgency)])
    if decision.specialist_id is not None:
        await mark_assigned(db, decision.specialist_id, now)
    await moves.recorder.add(db, consult, E.handed_back, actor_id=actor.id, at=now,
                             previous=previous, reason=why.value, routing=decision.reason,
                             tier=decision.tier.value if decision.tier else None)
    await audit.append(db, actor=actor, action="consult.hand_back", at=now,
                       object_type="consult", object_id=consult.id,
                       detail=f"reason={why.value} from={previous.assigned_to} "
                              f"to={decision.specialist_id or 'pool'}")
    moves.consults.append(consult)
    return decision


def place(deps: HandbackDeps, consult: Consult, holder: int | None, *, now: datetime,
          target: Target) -> None:
    """Give the consult to `holder` (None: the pool), leaving the response clock alone."""
    waiting_for_gp = consult.state == S.awaiting_gp
    consult.assigned_to = holder
    consult.escalation_tried = "[]"
    consult.updated_at = now
    if waiting_for_gp:
        return  # the GP's reply resumes the clock (and routes it, if nobody holds it)
    consult.state = S.assigned if holder is not None else S.pooled
    consult.ack_due_at = (deadlines.ack_deadline(now, target, deps.calendar)
                          if holder is not None else None)


async def mark_assigned(db: AsyncSession, user_id: int, now: datetime) -> None:
    await db.execute(update(User).where(col(User.id) == user_id).values(last_assigned_at=now))


async def publish_moves(deps: HandbackDeps, moves: Moves) -> None:
    """After the commit: the queues hear of the moves, the scheduler of the deadlines."""
    await deps.publish(moves.recorder.bus_events())
    for consult in moves.consults:
        due = deadlines.next_due(consult)
        if due is not None:
            deps.wake(due)


async def holder_of(db: AsyncSession, user_id: int) -> Principal | None:
    user = await db.get(User, user_id)
    if user is None or user.id is None:
        return None
    slugs = (await db.execute(select(col(UserSpecialty.specialty))
                              .where(col(UserSpecialty.user_id) == user_id))).scalars()
    return Principal(user.id, user.role, user.active, frozenset(slugs), user.email, user.name)


async def absent_now(db: AsyncSession, user_id: int, now: datetime) -> RotaAbsence | None:
    return (await db.execute(select(RotaAbsence).where(
        col(RotaAbsence.specialist_id) == user_id, col(RotaAbsence.starts_at) <= now,
        col(RotaAbsence.ends_at) > now).order_by(col(RotaAbsence.ends_at).desc()).limit(1)
    )).scalars().first()


async def ensure_held(deps: HandbackDeps, db: AsyncSession, consult: Consult, *,
                      now: datetime, recorder: Recorder) -> None:
    """For a step that has just made a consult open again (the GP replied or followed
    up): if nobody who can act holds it, route it now instead of stranding it."""
    if consult.state not in OPEN_STATES or consult.state == S.pooled:
        return
    moves = Moves(recorder, [])
    system = Actor(None, "system")
    if consult.assigned_to is None:
        await hand_back(deps, db, consult, why=Why.holder_cannot_act, actor=system, now=now,
                        moves=moves)
        return
    holder = await holder_of(db, consult.assigned_to)
    if holder is None or not may_hold(holder, consult):
        await hand_back(deps, db, consult, why=Why.holder_cannot_act, actor=system, now=now,
                        moves=moves, exclude=frozenset({consult.assigned_to}))
    elif await absent_now(db, consult.assigned_to, now):
        await hand_back(deps, db, consult, why=Why.holder_absent, actor=system, now=now,
                        moves=moves, exclude=frozenset({consult.assigned_to}))

