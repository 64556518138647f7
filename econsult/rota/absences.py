"""Absences, as staff record them on the rota and specialists on /account.

An absence that covers the present hands the consults its specialist holds back to
routing in the transaction that records it; one that starts later is left to the
deadline scheduler, which is told when (econsult.consults.absences).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.handback import HandbackDeps, Moves, Why, hand_back_held, publish_moves
from econsult.errors import InvalidInput, NotFound
from econsult.models import Role, RotaAbsence, User
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

MAX_ABSENCE = timedelta(days=366)


@dataclass(frozen=True)
class Recorded:
    absence: RotaAbsence
    consults_moved: int


def check_period(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("The absence must end after it starts.", field="ends_at")
    if ends_at - starts_at > MAX_ABSENCE:
        raise InvalidInput(f"An absence may last at most {MAX_ABSENCE.days} days.",
                           field="ends_at")


async def record(deps: HandbackDeps, db: AsyncSession, *, specialist_id: int,
                 starts_at: datetime, ends_at: datetime, actor: Actor, now: datetime,
                 moves: Moves) -> Recorded:
    """Add the absence inside the caller's transaction (which audits it)."""
    row = RotaAbsence(specialist_id=specialist_id, starts_at=starts_at, ends_at=ends_at,
                      created_at=now)
    moved = 0
    if starts_at <= now < ends_at:
        row.handed_back_at = now
    db.add(row)
    await db.flush()
    if row.handed_back_at is not None:
        moved = await hand_back_held(deps, db, holder_id=specialist_id, why=Why.holder_absent,
                                     actor=actor, now=now, moves=moves)
    return Recorded(row, moved)


async def after_commit(deps: HandbackDeps, recorded: Recorded, moves: Moves) -> None:
    await publish_moves(deps, moves)
    if recorded.absence.handed_back_at is None and recorded.absence.ends_at > deps.clock.now():
        deps.wake(recorded.absence.starts_at)


async def add_own_absence(deps: HandbackDeps, user: Principal, *, starts_at: datetime,
                          ends_at: datetime, actor: Actor) -> Recorded:
    """A specialist's own out-of-office."""
    require(user, Action.own_absence)
    check_period(starts_at, ends_at)
    now = deps.clock.now()
    if ends_at <= now:
        raise InvalidInput("That time is already over.", field="ends_at")
    moves = Moves.new()
    async with deps.db.write() as db:
        recorded = await record(deps, db, specialist_id=user.id, starts_at=starts_at,
                                ends_at=ends_at, actor=actor, now=now, moves=moves)
        await audit.append(db, actor=actor, action="rota.absence.add", at=now,
                           object_type="rota_absence", object_id=str(recorded.absence.id),
                           detail=f"specialist={user.id} own=1 "
                                  f"consults_moved={recorded.consults_moved}")
    await after_commit(deps, recorded, moves)
    return recorded


async def own_absences(deps: HandbackDeps, user: Principal) -> list[RotaAbsence]:
    """The specialist's absences that have not ended yet, soonest first."""
    require(user, Action.own_absence)
    async with deps.db.read() as db:
        return list((await db.execute(select(RotaAbsence).where(
            col(RotaAbsence.specialist_id) == user.id,
            col(RotaAbsence.ends_at) > deps.clock.now())
            .order_by(col(RotaAbsence.starts_at)))).scalars())


async def delete_own_absence(deps: HandbackDeps, user: Principal, *, absence_id: int,
                             actor: Actor) -> None:
    require(user, Action.own_absence)
    now = deps.clock.now()
    async with deps.db.write() as db:
        row = await db.get(RotaAbsence, absence_id)
        if row is None or row.specialist_id != user.id:
            raise NotFound("No such absence.")  # someone else's looks like none
        await db.delete(row)
        await audit.append(db, actor=actor, action="rota.absence.delete", at=now,
                           object_type="rota_absence", object_id=str(absence_id),
                           detail=f"specialist={user.id} own=1")


async def specialist_by_email(db: AsyncSession, email: str) -> User:
    user = (
        await db.execute(select(User).where(col(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None or user.role != Role.specialist:
        raise InvalidInput(f"No specialist has the email {email!r}.", field="specialist")
    return user
