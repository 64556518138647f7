"""Staff editing the on-call rota: weekly patterns, one-off shifts, absences.

Each mutating function owns one transaction and writes its audit row inside it. The
parsers at the bottom turn what an API client or a form sent into typed values and
refuse anything ambiguous (a datetime without an offset, a weekday of 7) with an
`InvalidInput` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.consults.routing_io import load_specialty, on_call_intervals
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import Role, RotaAbsence, RotaShift, RotaWeekly, Specialty, User, UserSpecialty
from econsult.routing.rota import OnCallInterval, Tier
from econsult.routing.wallclock import is_aware, to_instant
from econsult.security import audit
from econsult.security.audit import Actor

_T = TypeVar("_T")

MAX_SHIFT = timedelta(days=14)
MAX_ABSENCE = timedelta(days=366)
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
    database: Database, *, specialty: str, start: datetime, end: datetime, tz: ZoneInfo
) -> RotaView:
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


async def add_shift(
    database: Database,
    *,
    specialty: str,
    specialist: str,
    starts_at: datetime,
    ends_at: datetime,
    tier: Tier,
    actor: Actor,
    clock: Clock,
) -> tuple[RotaShift, Person]:
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


async def delete_shift(
    database: Database, *, specialty: str, shift_id: int, actor: Actor, clock: Clock
) -> None:
    await _delete(database, "shift", shift_id, specialty=specialty, actor=actor, clock=clock)


async def add_weekly(
    database: Database,
    *,
    specialty: str,
    specialist: str,
    weekday: int,
    start: time,
    end: time,
    tier: Tier,
    actor: Actor,
    clock: Clock,
) -> tuple[RotaWeekly, Person]:
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


async def delete_weekly(
    database: Database, *, specialty: str, weekly_id: int, actor: Actor, clock: Clock
) -> None:
    await _delete(database, "weekly", weekly_id, specialty=specialty, actor=actor, clock=clock)


async def add_absence(
    database: Database,
    *,
    specialist: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: Actor,
    clock: Clock,
) -> tuple[RotaAbsence, Person]:
    _check_period(starts_at, ends_at, MAX_ABSENCE, "absence")
    now = clock.now()
    async with database.write() as db:
        person = _person(await _specialist_by_email(db, specialist))
        row = RotaAbsence(
            specialist_id=person.id, starts_at=starts_at, ends_at=ends_at, created_at=now
        )
        db.add(row)
        await db.flush()
        await _audit(db, actor, now, "absence.add", row.id, f"specialist={person.id}")
    return row, person


async def delete_absence(
    database: Database, *, absence_id: int, actor: Actor, clock: Clock
) -> None:
    await _delete(database, "absence", absence_id, specialty=None, actor=actor, clock=clock)


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


async def _specialist_by_email(db: AsyncSession, email: str) -> User:
    user = (
        await db.execute(select(User).where(col(User.email) == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None or user.role != Role.specialist:
        raise InvalidInput(f"No specialist has the email {email!r}.", field="specialist")
    return user


async def _rostered_specialist(db: AsyncSession, email: str, specialty: Specialty) -> Person:
    user = await _specialist_by_email(db, email)
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


# --- parsing what clients send -------------------------------------------------------

_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_instant(value: object, field: str) -> datetime:
    """An ISO 8601 datetime that carries its UTC offset."""
    text = _text(value, field)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} is not an ISO 8601 datetime such as 2026-03-02T09:00:00-08:00.", field=field
        ) from None
    if not is_aware(parsed):
        raise InvalidInput(
            f"{field} must include a UTC offset (e.g. 2026-03-02T09:00:00-08:00 or ...Z).",
            field=field,
        )
    return parsed


def parse_bound(value: object, field: str, tz: ZoneInfo) -> datetime:
    """A window bound: an aware datetime, or a date meaning its midnight in `tz`."""
    # A '+' left unencoded in a query string arrives as a space.
    text = _SPACED_OFFSET.sub(r"+\1", _text(value, field))
    if len(text) == 10:
        try:
            return to_instant(date.fromisoformat(text), time(0), tz)
        except ValueError:
            raise InvalidInput(f"{field} is not a date such as 2026-03-02.", field=field) from None
    return parse_instant(text, field)


def parse_local(value: object, field: str, tz: ZoneInfo) -> datetime:
    """A datetime-local form value (no offset), read as wall-clock time in `tz`."""
    text = _text(value, field)
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field}: enter a date and time.", field=field) from None
    if naive.tzinfo is not None:
        return naive
    return to_instant(naive.date(), naive.time(), tz)


def parse_clock(value: object, field: str) -> time:
    match = _CLOCK.match(_text(value, field))
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(f"{field} must be a time of day such as 08:00.", field=field)
    return time(int(match[1]), int(match[2]))


def parse_weekday(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in range(7):
        raise InvalidInput("weekday must be 0 (Monday) to 6 (Sunday).", field="weekday")
    return value


def parse_tier(value: object) -> Tier:
    try:
        return Tier(str(value))
    except ValueError:
        raise InvalidInput("tier must be primary or backup.", field="tier") from None


def parse_id(value: object, what: str) -> int:
    """A row id from a path or form; anything else is simply not found."""
    try:
        number = int(str(value))
    except ValueError:
        raise NotFound(f"No such {what}.") from None
    if number <= 0 or number > 2**62:
        raise NotFound(f"No such {what}.")
    return number


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_window(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return to_instant(monday, time(0), tz), to_instant(monday + timedelta(days=7), time(0), tz)


def _text(value: object, field: str) -> str:
    if value is None or value == "":
        raise InvalidInput(f"{field.replace('_', ' ').capitalize()} is required.", field=field)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{field} must be text.", field=field)
    return value.strip()
