"""Dashboard reports built on the aggregates: per specialist, weekly trend, distribution.

A specialist's figures count the consults assigned to them now: once answered a
consult stays with the specialist who answered it, so their medians are their answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import Consult, Role, Specialty, User, UserSpecialty
from econsult.models.types import UTCDateTime
from econsult.turnaround.aggregates import (
    Stats,
    Summary,
    first_submitted,
    grouped,
    summarise,
)
from econsult.turnaround.filters import Filters, where_of

HISTOGRAM_BINS = 20  # tenths of the target window; the last bin holds everything beyond
_WEEK_SECONDS = 7 * 24 * 3600


@dataclass
class SpecialistRow:
    id: int
    name: str
    specialties: list[str]
    stats: Stats

    def to_json(self) -> dict[str, Any]:
        return {"specialist_id": self.id, "name": self.name, "specialties": self.specialties,
                **self.stats.full()}


async def specialists(db: AsyncSession, filters: Filters) -> list[SpecialistRow]:
    """Every specialist (of the filtered specialty, if any) with their figures."""
    key: ColumnElement[Any] = col(Consult.assigned_to).label("specialist_id")
    stats = await grouped(db, [*where_of(filters), col(Consult.assigned_to).is_not(None)], [key])
    held: dict[int, list[str]] = {}
    for uid, slug in (await db.execute(select(col(UserSpecialty.user_id),
                                              col(UserSpecialty.specialty)))).all():
        held.setdefault(uid, []).append(slug)
    people = (await db.execute(select(col(User.id), col(User.name))
                               .where(col(User.role) == Role.specialist.value)
                               .order_by(col(User.name)))).all()
    rows = []
    for uid_or_none, name in people:
        uid = int(uid_or_none or 0)
        mine = (uid,) in stats
        if filters.specialty and filters.specialty not in held.get(uid, []) and not mine:
            continue
        rows.append(SpecialistRow(uid, name, sorted(held.get(uid, [])), stats.get((uid,), Stats())))
    return rows


async def specialist(db: AsyncSession, filters: Filters,
                     specialist_id: int) -> tuple[SpecialistRow, dict[str, tuple[Stats, Stats]]]:
    """One specialist, and per urgency (plus "all") their stats beside the program's."""
    user = await db.get(User, specialist_id)
    if user is None or user.role != Role.specialist:
        raise LookupError(specialist_id)
    urgency: ColumnElement[Any] = col(Consult.urgency).label("urgency")
    where = where_of(filters)
    mine = [*where, col(Consult.assigned_to) == specialist_id]
    theirs, program = await grouped(db, mine, [urgency]), await grouped(db, where, [urgency])
    total, program_total = (await grouped(db, mine, []))[()], (await grouped(db, where, []))[()]
    slugs = (await db.execute(select(col(UserSpecialty.specialty))
                              .where(col(UserSpecialty.user_id) == specialist_id))).scalars()
    row = SpecialistRow(specialist_id, user.name, sorted(slugs), total)
    side_by_side = {k[0]: (theirs.get(k, Stats()), program[k]) for k in sorted(program)}
    side_by_side["all"] = (total, program_total)
    return row, side_by_side


def _dialect(db: AsyncSession) -> str:
    return db.get_bind().dialect.name


def _week_index(dialect: str, origin: datetime) -> ColumnElement[int]:
    """Whole weeks from `origin` to submitted_at (a dialect switch: date arithmetic)."""
    submitted, start = col(Consult.submitted_at), literal(origin, UTCDateTime())
    if dialect == "sqlite":
        # julianday() parses the stored text; CAST truncates, and the value is never < 0.
        return cast((func.julianday(submitted) - func.julianday(start)) / 7, Integer)
    return cast(func.floor(func.extract("epoch", submitted - start) / _WEEK_SECONDS), Integer)


@dataclass
class Week:
    starts: date  # Monday, in the program's zone
    stats: Stats


async def weekly(db: AsyncSession, filters: Filters, tz: ZoneInfo) -> list[Week]:
    """Per week of submission, from the Monday on or before the first consult.

    Weeks are 7 x 24 h from that Monday's local midnight, so across a DST change a
    week's edge sits an hour off local midnight; a trend line does not notice.
    """
    first = filters.start or await first_submitted(db, filters)
    if first is None:
        return []
    day = first.astimezone(tz).date()
    monday = day - timedelta(days=day.weekday())
    origin = datetime.combine(monday, time(0), tz).astimezone(UTC)
    dialect = _dialect(db)
    key = _week_index(dialect, origin).label("week")
    found = await grouped(db, where_of(filters), [key])
    if not found:
        return []
    last = max(k[0] for k in found)
    return [Week(monday + timedelta(weeks=i), found.get((i,), Stats())) for i in range(last + 1)]


@dataclass
class Distribution:
    urgency: str
    target_seconds: float  # the most common target in the group (they rarely differ)
    bins: list[int]  # bins[i]: answered in [i/10, (i+1)/10) of the target; last: beyond 2x


def _bucket(dialect: str) -> ColumnElement[int]:
    ratio = col(Consult.seconds_to_answer) * 10 / col(Consult.target_seconds)
    whole = cast(ratio, Integer) if dialect == "sqlite" else cast(func.floor(ratio), Integer)
    return case((ratio >= HISTOGRAM_BINS, HISTOGRAM_BINS), else_=whole)


async def distribution(db: AsyncSession, filters: Filters) -> list[Distribution]:
    """Time to answer as a share of each consult's own target, per urgency."""
    where = [*where_of(filters), col(Consult.seconds_to_answer).is_not(None),
             col(Consult.target_seconds) > 0]
    urgency = col(Consult.urgency)
    bucket = _bucket(_dialect(db)).label("bucket")
    counts = (await db.execute(select(urgency, bucket, func.count()).where(*where)
                               .group_by(urgency, bucket))).all()
    targets = (await db.execute(select(urgency, col(Consult.target_seconds), func.count())
                                .where(*where).group_by(urgency, col(Consult.target_seconds))
                                )).all()
    common: dict[str, tuple[int, float]] = {}
    for ur, target, n in targets:
        if ur not in common or n > common[ur][0]:
            common[ur] = (n, float(target or 0))
    result = {ur: Distribution(ur, t, [0] * (HISTOGRAM_BINS + 1)) for ur, (_, t) in common.items()}
    for ur, b, n in counts:
        result[ur].bins[max(0, min(int(b), HISTOGRAM_BINS))] += int(n)
    order = {"urgent": 0, "semi_urgent": 1, "routine": 2}
    return [result[k] for k in sorted(result, key=lambda u: order.get(u, 9))]


@dataclass
class Dashboard:
    filters: Filters
    summary: Summary
    weeks: list[Week]
    distributions: list[Distribution]
    specialists: list[SpecialistRow]
    specialties: list[tuple[str, str]]  # (slug, name) for the filter form


async def dashboard(db: AsyncSession, filters: Filters, tz: ZoneInfo) -> Dashboard:
    """Everything /dashboard shows, read in one snapshot."""
    names = (await db.execute(select(col(Specialty.slug), col(Specialty.name))
                              .order_by(col(Specialty.name)))).all()
    return Dashboard(
        filters=filters,
        summary=await summarise(db, filters),
        weeks=await weekly(db, filters, tz),
        distributions=await distribution(db, filters),
        specialists=await specialists(db, filters),
        specialties=[(slug, name) for slug, name in names],
    )
