"""One specialty's rota week as the staff page shows it: the entries (`rota_view`), who
is on call now, who cannot be routed to (disabled, no longer of the specialty, away),
coverage warnings against the target windows, and the caps and open loads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from econsult.clock import Clock
from econsult.consults.routing_io import on_call_intervals, targets_of
from econsult.db import Database
from econsult.models import Role, RotaAbsence, User, UserSpecialty
from econsult.rota.coverage import MARGIN, CoverageWarning, week_warnings
from econsult.rota.service import Person, RotaView, rota_view, week_window
from econsult.rota.staffing import open_loads
from econsult.routing.coverage import Gap, GapKind, coverage_gaps
from econsult.routing.rota import Tier, on_call_at
from econsult.security.policy import Principal
from econsult.turnaround.calendar import BusinessCalendar


@dataclass(frozen=True)
class OnCallNow:
    person: Person
    tier: Tier


@dataclass(frozen=True)
class WeekView:
    view: RotaView
    now: datetime
    eligible: frozenset[int]  # may be routed to: active specialists of the specialty
    disabled: frozenset[int]
    away_now: frozenset[int]
    on_call_now: list[OnCallNow]
    warnings: list[CoverageWarning]
    uncovered: list[Gap]  # every stretch with nobody eligible on call, within the week
    loads: dict[int, int]
    caps: dict[int, int | None]  # each specialist's own cap

    def status(self, user_id: int) -> str:
        """Why someone on this rota is not routed to now ("" when they are)."""
        if user_id in self.disabled:
            return "disabled"
        if user_id not in self.eligible:
            return "no longer of this specialty"
        return "away" if user_id in self.away_now else ""


async def week_view(database: Database, clock: Clock, calendar: BusinessCalendar,
                    user: Principal, *, specialty: str, monday: date, tz: ZoneInfo) -> WeekView:
    start, end = week_window(monday, tz)
    view = await rota_view(database, user, specialty=specialty, start=start, end=end, tz=tz)
    now = clock.now()
    slug = view.specialty.slug
    async with database.read() as db:
        wide = await on_call_intervals(db, slug, start - MARGIN, end + MARGIN, tz)
        holders = list((await db.execute(
            select(User).join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
            .where(col(UserSpecialty.specialty) == slug))).scalars())
        eligible = frozenset(u.id for u in holders
                             if u.id is not None and u.active and u.role == Role.specialist)
        ids = sorted(view.people)
        disabled = frozenset(int(i or 0) for i in (await db.execute(select(col(User.id)).where(
            col(User.id).in_(ids), col(User.active).is_(False)))).scalars())
        away = frozenset((await db.execute(select(col(RotaAbsence.specialist_id)).where(
            col(RotaAbsence.specialist_id).in_(ids), col(RotaAbsence.starts_at) <= now,
            col(RotaAbsence.ends_at) > now))).scalars())
        loads = await open_loads(db, ids)
        caps = {u.id: u.open_cap for u in holders if u.id is not None}
    now_on = [OnCallNow(view.person(iv.specialist_id), iv.tier)
              for iv in on_call_at(wide, now) if iv.specialist_id in eligible]
    warnings = week_warnings(wide, eligible, specialty=slug.replace("-", " "),
                             targets=targets_of(view.specialty), calendar=calendar, tz=tz,
                             start=start, end=end)
    uncovered = [g for g in coverage_gaps(wide, eligible, start, end)
                 if g.kind is GapKind.UNCOVERED]
    return WeekView(view, now, eligible, disabled, away, now_on, warnings, uncovered,
                    loads, caps)
