"""Staff editing the on-call rota: weekly patterns, one-off shifts, absences.

Each public function asks the policy first, owns one transaction and writes its audit
row inside it. What to add arrives as a typed entry (`econsult.rota.entries`), already
parsed by the face that received it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.consults.handback import HandbackDeps, Moves
from econsult.consults.routing_io import load_specialty, on_call_intervals
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import Role, RotaAbsence, RotaShift, RotaWeekly, Specialty, User, UserSpecialty
from econsult.rota import absences
from econsult.rota.entries import AbsenceInput, RotaEntry, ShiftInput, WeeklyInput
from econsult.routing.rota import OnCallInterval
from econsult.routing.wallclock import to_instant
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

_T = TypeVar("_T")

MAX_SHIFT = timedelta(days=14)
MAX_WINDOW = timedelta(days=92)


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class RotaView:
    """One specialty's rota inside [start, end): expanded on-call time and the rows
    it came from, with the people they name."""

    specialty: Specialty
    start: datetime
    end: datetime
    intervals: list[OnCallInterval]
    weekly: list[RotaWeekly]
    shifts: list[RotaShift]
    absences: list[RotaAbsence]
    people: dict[int, Person]
    # Active specialists holding the specialty: who may be put on its rota.
    specialists: list[Person]

    def person(self, user_id: int) -> Person:
        return self.people.get(user_id) or Person(user_id, "", f"user {user_id}")


async def specialty_or_404(db: AsyncSession, slug: str) -> Specialty:
    try:
        return await load_specialty(db, slug)
    except InvalidInput:
        raise NotFound("No such specialty.") from None


async def rota_view(
    database: Database, user: Principal, *, specialty: str, start: datetime, end: datetime,
    tz: ZoneInfo,
) -> RotaView:
    require(user, Action.manage_rota)
    if end <= start:
        raise InvalidInput("'to' must be after 'from'.", field="to")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"Ask for at most {MAX_WINDOW.days} days at a time.", field="to")
    async with database.read() as db:
        spec = await specialty_or_404(db, specialty)
        intervals = await on_call_intervals(db, spec.slug, start, end, tz)
        weekly = await _all(
            db,
            select(RotaWeekly)
            .where(col(RotaWeekly.specialty) == spec.slug)
            .order_by(col(RotaWeekly.weekday), col(RotaWeekly.start), col(RotaWeekly.id)),
        )
        shifts = await _all(
            db,
            select(RotaShift)
            .where(col(RotaShift.specialty) == spec.slug)
            .where(col(RotaShift.ends_at) > start, col(RotaShift.starts_at) < end)
            .order_by(col(RotaShift.starts_at), col(RotaShift.id)),
        )
        holders = await _all(
            db,
            select(User)
            .join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
            .where(col(UserSpecialty.specialty) == spec.slug)
            .order_by(col(User.name)),
        )
        people = {u.id: _person(u) for u in holders if u.id is not None}
        rostered = {w.specialist_id for w in weekly} | {s.specialist_id for s in shifts}
        if rostered - people.keys():
            others = select(User).where(col(User.id).in_(rostered - people.keys()))
            people.update({u.id: _person(u) for u in await _all(db, others) if u.id is not None})
        absences = await _all(
            db,
            select(RotaAbsence)
            .where(col(RotaAbsence.specialist_id).in_(people.keys()))
            .where(col(RotaAbsence.ends_at) > start, col(RotaAbsence.starts_at) < end)
            .order_by(col(RotaAbsence.starts_at), col(RotaAbsence.id)),
        )
    specialists = [
        _person(u) for u in holders if u.active and u.role == Role.specialist and u.id is not None
    ]
    return RotaView(spec, start, end, intervals, weekly, shifts, absences, people, specialists)


async def add_entry(
    deps: HandbackDeps, user: Principal, *, specialty: str | None, entry: RotaEntry,
    actor: Actor,
) -> tuple[RotaShift | RotaWeekly | RotaAbsence, Person]:
    """Add a shift or weekly pattern to `specialty`'s rota, or record an absence (which
    belongs to the person, not a specialty, and sends what they hold back to routing
    once it starts)."""
    require(user, Action.manage_rota)
    database, clock = deps.db, deps.clock
    if isinstance(entry, AbsenceInput):
        return await _add_absence(deps, entry, actor)
    if specialty is None:
        raise NotFound("No such specialty.")
    if isinstance(entry, ShiftInput):
        return await _add_shift(database, specialty, entry, actor, clock)
    return await _add_weekly(database, specialty, entry, actor, clock)


async def delete_entry(
    database: Database, clock: Clock, user: Principal, *, kind: str, specialty: str | None,
    row_id: int, actor: Actor,
) -> None:
    require(user, Action.manage_rota)
    await _delete(database, kind, row_id, specialty=specialty, actor=actor, clock=clock)


async def _add_shift(
    database: Database, specialty: str, entry: ShiftInput, actor: Actor, clock: Clock
) -> tuple[RotaShift, Person]:
    specialist, starts_at, ends_at, tier = (entry.specialist, entry.starts_at, entry.ends_at,
                                            entry.tier)
    _check_period(starts_at, ends_at, MAX_SHIFT, "shift")
    now = clock.now()
    async with database.write() as db:
        spec = await specialty_or_404(db, specialty)
        person = await _rostered_specialist(db, specialist, spec)
        row = RotaShift(specialty=spec.slug, specialist_id=person.id, starts_at=starts_at,
                        ends_at=ends_at, tier=tier.value, created_at=now)  # fmt: skip
        db.add(row)
        await db.flush()
        detail = f"specialty={spec.slug} specialist={person.id} tier={tier}"
        await _audit(db, actor, now, "shift.add", row.id, detail)
    return row, person


async def _add_weekly(
    database: Database, specialty: str, entry: WeeklyInput, actor: Actor, clock: Clock
) -> tuple[RotaWeekly, Person]:
    specialist, weekday, start, end, tier = (entry.specialist, entry.weekday, entry.start,
                                             entry.end, entry.tier)
    now = clock.now()
    async with database.write() as db:
        spec = await specialty_or_404(db, specialty)
        person = await _rostered_specialist(db, specialist, spec)
        row = RotaWeekly(specialty=spec.slug, specialist_id=person.id, weekday=weekday,
                         start=start, end=end, tier=tier.value, created_at=now)  # fmt: skip
        same = select(col(RotaWeekly.id)).where(
            col(RotaWeekly.specialty) == row.specialty,
            col(RotaWeekly.specialist_id) == row.specialist_id,
            col(RotaWeekly.weekday) == row.weekday,
            col(RotaWeekly.start) == row.start,
            col(RotaWeekly.end) == row.end,
            col(RotaWeekly.tier) == row.tier,
        )
        if (await db.execute(same)).first():
            raise Conflict("That weekly pattern is already on the rota.", code="duplicate")
        db.add(row)
        await db.flush()
        detail = f"specialty={spec.slug} specialist={person.id} tier={tier}"
        await _audit(db, actor, now, "weekly.add", row.id, detail)
    return row, person


async def _add_absence(
    deps: HandbackDeps, entry: AbsenceInput, actor: Actor
) -> tuple[RotaAbsence, Person]:
    absences.check_period(entry.starts_at, entry.ends_at)
    now = deps.clock.now()
    moves = Moves.new()
    async with deps.db.write() as db:
        person = _person(await absences.specialist_by_email(db, entry.specialist))
        recorded = await absences.record(deps, db, specialist_id=person.id,
                                         starts_at=entry.starts_at, ends_at=entry.ends_at,
                                         actor=actor, now=now, moves=moves)
        await _audit(db, actor, now, "absence.add", recorded.absence.id,
                     f"specialist={person.id} consults_moved={recorded.consults_moved}")
    await absences.after_commit(deps, recorded, moves)
    return recorded.absence, person


_KINDS: dict[str, tuple[type[RotaShift] | type[RotaWeekly] | type[RotaAbsence], str]] = {
    "shift": (RotaShift, "shift"),
    "weekly": (RotaWeekly, "weekly pattern"),
    "absence": (RotaAbsence, "absence"),
}


async def _delete(
    database: Database,
    kind: str,
    row_id: int,
    *,
    specialty: str | None,
    actor: Actor,
    clock: Clock,
) -> None:
    model, what = _KINDS[kind]
    now = clock.now()
    async with database.write() as db:
        row = await db.get(model, row_id)
        # Another specialty's row answers like a missing one: ids are not probed.
        if row is None or (specialty is not None and getattr(row, "specialty", None) != specialty):
            raise NotFound(f"No such {what}.")
        await db.delete(row)
        await _audit(db, actor, now, f"{kind}.delete", row_id,
                     f"specialty={specialty}" if specialty else "")  # fmt: skip


async def _audit(
    db: AsyncSession, actor: Actor, now: datetime, action: str, row_id: int | None, detail: str
) -> None:
    kind = action.split(".")[0]
    await audit.append(
        db, actor=actor, action=f"rota.{action}", at=now, object_type=f"rota_{kind}",
        object_id=str(row_id), detail=detail,
    )  # fmt: skip


async def _all(db: AsyncSession, statement: Select[_T]) -> list[_T]:
    return list((await db.execute(statement)).scalars())


async def _rostered_specialist(db: AsyncSession, email: str, specialty: Specialty) -> Person:
    user = await absences.specialist_by_email(db, email)
    if not user.active:
        raise InvalidInput(
            f"{user.email} is disabled and cannot be put on call.", field="specialist"
        )
    holds = (
        await db.execute(
            select(col(UserSpecialty.user_id)).where(
                col(UserSpecialty.user_id) == user.id,
                col(UserSpecialty.specialty) == specialty.slug,
            )
        )
    ).first()
    if not holds:
        raise InvalidInput(f"{user.email} does not hold {specialty.name}.", field="specialist")
    return _person(user)


def _person(user: User) -> Person:
    return Person(user.id or 0, user.email, user.name)


def _check_period(starts_at: datetime, ends_at: datetime, longest: timedelta, what: str) -> None:
    if ends_at <= starts_at:
        raise InvalidInput(f"The {what} must end after it starts.", field="ends_at")
    if ends_at - starts_at > longest:
        raise InvalidInput(f"A {what} may last at most {longest.days} days.", field="ends_at")


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_window(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return to_instant(monday, time(0), tz), to_instant(monday + timedelta(days=7), time(0), tz)
