"""Staff shaping how much work the rota carries: caps on open consults (per specialty,
for each of its specialists, and per specialist), open loads, and copying last week's
one-off shifts into this week. Each change asks the policy, owns one transaction and
is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput
from econsult.models import OPEN_STATES, Consult, Role, RotaShift, User, UserSpecialty
from econsult.rota.absences import specialist_by_email
from econsult.rota.service import specialty_or_404, week_window
from econsult.routing.wallclock import to_instant
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

MAX_CAP = 500


def parse_cap(value: object, field: str) -> int | None:
    """A cap from a form: blank is no cap; else a whole number 0..MAX_CAP."""
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_CAP:
        raise InvalidInput(f"A cap is a whole number from 0 to {MAX_CAP}, or blank for none.",
                           field=field)
    return int(text)


async def open_loads(db: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await db.execute(select(col(Consult.assigned_to), func.count()).where(
        col(Consult.assigned_to).in_(ids),
        col(Consult.state).in_(sorted(s.value for s in OPEN_STATES)))
        .group_by(col(Consult.assigned_to)))
    return {int(uid or 0): int(n) for uid, n in rows.all()}


async def set_specialty_cap(database: Database, clock: Clock, user: Principal, *,
                            specialty: str, cap: int | None, actor: Actor) -> None:
    require(user, Action.manage_rota)
    now = clock.now()
    async with database.write() as db:
        spec = await specialty_or_404(db, specialty)
        spec.open_cap = cap
        db.add(spec)
        await audit.append(db, actor=actor, action="rota.cap.specialty", at=now,
                           object_type="specialty", object_id=spec.slug,
                           detail=f"cap={'none' if cap is None else cap}")


async def set_specialist_cap(database: Database, clock: Clock, user: Principal, *,
                             specialist: str, cap: int | None, actor: Actor) -> None:
    require(user, Action.manage_rota)
    now = clock.now()
    async with database.write() as db:
        person = await specialist_by_email(db, specialist)
        person.open_cap = cap
        db.add(person)
        await audit.append(db, actor=actor, action="rota.cap.specialist", at=now,
                           object_type="user", object_id=str(person.id),
                           detail=f"cap={'none' if cap is None else cap}")


@dataclass(frozen=True)
class Copied:
    copied: int
    skipped: int  # already there, or the specialist can no longer be on this rota


async def copy_last_week(database: Database, clock: Clock, user: Principal, *,
                         specialty: str, monday: date, tz: ZoneInfo, actor: Actor) -> Copied:
    """Last week's one-off shifts again, a week later on the wall clock (so a shift at
    08:00 stays at 08:00 across a DST change). Weekly patterns repeat by themselves."""
    require(user, Action.manage_rota)
    now = clock.now()
    start, end = week_window(monday - timedelta(days=7), tz)
    async with database.write() as db:
        spec = await specialty_or_404(db, specialty)
        rows = list((await db.execute(select(RotaShift).where(
            col(RotaShift.specialty) == spec.slug, col(RotaShift.starts_at) >= start,
            col(RotaShift.starts_at) < end).order_by(col(RotaShift.starts_at)))).scalars())
        may_work = set((await db.execute(
            select(col(User.id)).join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
            .where(col(UserSpecialty.specialty) == spec.slug, col(User.active).is_(True),
                   col(User.role) == Role.specialist.value))).scalars())
        copied = skipped = 0
        for row in rows:
            new_start, new_end = _next_week(row.starts_at, tz), _next_week(row.ends_at, tz)
            duplicate = (await db.execute(select(col(RotaShift.id)).where(
                col(RotaShift.specialty) == spec.slug,
                col(RotaShift.specialist_id) == row.specialist_id,
                col(RotaShift.tier) == row.tier, col(RotaShift.starts_at) == new_start,
                col(RotaShift.ends_at) == new_end))).first()
            if duplicate or row.specialist_id not in may_work:
                skipped += 1
                continue
            db.add(RotaShift(specialty=spec.slug, specialist_id=row.specialist_id,
                             starts_at=new_start, ends_at=new_end, tier=row.tier,
                             created_at=now))
            copied += 1
        await audit.append(db, actor=actor, action="rota.shift.copy_week", at=now,
                           object_type="specialty", object_id=spec.slug,
                           detail=f"week={monday.isoformat()} copied={copied} "
                                  f"skipped={skipped}")
    return Copied(copied, skipped)


def _next_week(at: datetime, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    return to_instant(local.date() + timedelta(days=7), local.time().replace(tzinfo=None), tz)
