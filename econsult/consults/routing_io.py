"""Feeding the pure routing decision from the database: rota, load, targets."""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db.precompiled import PrecompiledQuery
from econsult.errors import InvalidInput
from econsult.models import (
    OPEN_STATES,
    Consult,
    RotaAbsence,
    RotaShift,
    RotaWeekly,
    Specialty,
    User,
    UserSpecialty,
)
from econsult.models.loaded import as_loaded
from econsult.routing.decision import Decision, RoutingRequest, SpecialistState, decide
from econsult.routing.decision import next_escalation as _next_escalation
from econsult.routing.rota import Absence, OnCallInterval, Shift, Tier, WeeklyPattern, expand
from econsult.routing.targets import (
    InvalidTargets,
    Target,
    Urgency,
    default_targets_for,
    targets_from_json,
)

# The decision looks only at who is on call at `now` (`rota.on_call_at`), so the rota
# is expanded over the instant itself: [now, now + 1 us). `rota.expand` still starts
# its weekly patterns a day early, which catches an overnight one that began yesterday.
_INSTANT = timedelta(microseconds=1)


def targets_of(specialty: Specialty) -> dict[Urgency, Target]:
    return dict(_parsed_targets(specialty.slug, specialty.targets or "{}"))


@functools.lru_cache(maxsize=256)
def _parsed_targets(slug: str, targets: str) -> dict[Urgency, Target]:
    """Parsed once per (specialty, stored JSON): every submission reads them. Callers
    get a copy of the dict (the Targets themselves are frozen)."""
    try:
        return targets_from_json(json.loads(targets), defaults=default_targets_for(slug))
    except (InvalidTargets, ValueError):
        return default_targets_for(slug)


async def load_specialty(db: AsyncSession, slug: str) -> Specialty:
    specialty = await db.get(Specialty, slug)
    if specialty is None:
        raise InvalidInput(f"Unknown specialty {slug!r}.", field="specialty")
    return specialty


async def on_call_intervals(
    db: AsyncSession, specialty: str, start: datetime, end: datetime, tz: ZoneInfo
) -> list[OnCallInterval]:
    weekly = (
        (await db.execute(select(RotaWeekly).where(col(RotaWeekly.specialty) == specialty)))
        .scalars()
        .all()
    )
    shifts = (
        (
            await db.execute(
                select(RotaShift).where(
                    col(RotaShift.specialty) == specialty,
                    col(RotaShift.ends_at) > start,
                    col(RotaShift.starts_at) < end,
                )
            )
        )
        .scalars()
        .all()
    )
    people = {w.specialist_id for w in weekly} | {s.specialist_id for s in shifts}
    absences = (
        (
            await db.execute(
                select(RotaAbsence).where(
                    col(RotaAbsence.specialist_id).in_(people),
                    col(RotaAbsence.ends_at) > start,
                    col(RotaAbsence.starts_at) < end,
                )
            )
        )
        .scalars()
        .all()
        if people
        else []
    )
    return expand(
        [WeeklyPattern(w.specialist_id, w.weekday, w.start, w.end, Tier(w.tier)) for w in weekly],
        [Shift(s.specialist_id, s.starts_at, s.ends_at, Tier(s.tier), s.id) for s in shifts],
        [Absence(a.specialist_id, a.starts_at, a.ends_at) for a in absences],
        start,
        end,
        tz,
    )


def _open_load(user_id: Any) -> Any:
    """A specialist's open consults, counted on the (assigned_to, state) index: only
    the specialty's own specialists' entries are read, never the whole open set."""
    return (select(func.count()).select_from(Consult)
            .where(col(Consult.assigned_to) == user_id,
                   col(Consult.state).in_([s.value for s in OPEN_STATES]))
            .scalar_subquery())


async def candidates(db: AsyncSession, specialty: Specialty) -> dict[int, SpecialistState]:
    """Every specialist holding the specialty, with their open load (one query)."""
    rows = (
        await db.execute(
            select(User, _open_load(col(User.id)))
            .join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
            .where(col(UserSpecialty.specialty) == specialty.slug)
        )
    ).all()
    return {
        user.id: SpecialistState(
            specialist_id=user.id,
            specialties=frozenset({specialty.slug}),
            active=user.active,
            open_load=int(n),
            cap=specialty.open_cap,
            last_assigned_at=user.last_assigned_at,
            personal_cap=user.open_cap,
        )
        for user, n in rows
        if user.id is not None
    }


async def route(
    db: AsyncSession,
    *,
    specialty: Specialty,
    urgency: str,
    now: datetime,
    tz: ZoneInfo,
    exclude: frozenset[int] = frozenset(),
    preferred: int | None = None,
) -> Decision:
    on_call = await on_call_intervals(db, specialty.slug, now, now + _INSTANT, tz)
    return decide(
        RoutingRequest(specialty.slug, Urgency(urgency), exclude, preferred),
        on_call,
        await candidates(db, specialty),
        now,
    )


async def next_escalation(
    db: AsyncSession,
    *,
    consult: Consult,
    specialty: Specialty,
    tried: frozenset[int],
    now: datetime,
    tz: ZoneInfo,
) -> Decision:
    on_call = await on_call_intervals(db, specialty.slug, now, now + _INSTANT, tz)
    return _next_escalation(
        RoutingRequest(specialty.slug, Urgency(consult.urgency)),
        consult.assigned_to,
        tried,
        on_call,
        await candidates(db, specialty),
        now,
    )


# --- the same inputs on a synchronous connection (the one-hand-off submission) -------

_SPECIALTIES = Specialty.__table__  # type: ignore[attr-defined]
_WEEKLY = RotaWeekly.__table__  # type: ignore[attr-defined]
_SHIFTS = RotaShift.__table__  # type: ignore[attr-defined]
_ABSENCES = RotaAbsence.__table__  # type: ignore[attr-defined]
_USERS = User.__table__  # type: ignore[attr-defined]
_HOLDS = UserSpecialty.__table__  # type: ignore[attr-defined]
_CONSULTS = Consult.__table__  # type: ignore[attr-defined]
# Built once and run as `PrecompiledQuery` (building, cache-keying and setting up the
# result of a statement cost more than running it).
_GET_SPECIALTY = PrecompiledQuery(
    select(*_SPECIALTIES.c).where(_SPECIALTIES.c.slug == bindparam("slug")))
_WEEKLY_OF = PrecompiledQuery(
    select(_WEEKLY.c.specialist_id, _WEEKLY.c.weekday, _WEEKLY.c.start, _WEEKLY.c.end,
           _WEEKLY.c.tier).where(_WEEKLY.c.specialty == bindparam("s")))
_SHIFTS_OF = PrecompiledQuery(
    select(_SHIFTS.c.specialist_id, _SHIFTS.c.starts_at, _SHIFTS.c.ends_at, _SHIFTS.c.tier,
           _SHIFTS.c.id).where(_SHIFTS.c.specialty == bindparam("s"),
                               _SHIFTS.c.ends_at > bindparam("start"),
                               _SHIFTS.c.starts_at < bindparam("end")))
# The absences of the people on the specialty's weekly rota or on one of its shifts in
# the window (the same people `on_call_intervals` collects), in the one statement.
_ABSENCES_OF = PrecompiledQuery(
    select(_ABSENCES.c.specialist_id, _ABSENCES.c.starts_at, _ABSENCES.c.ends_at).where(
        _ABSENCES.c.specialist_id.in_(
            select(_WEEKLY.c.specialist_id).where(_WEEKLY.c.specialty == bindparam("s"))
            .union(select(_SHIFTS.c.specialist_id).where(
                _SHIFTS.c.specialty == bindparam("s"), _SHIFTS.c.ends_at > bindparam("start"),
                _SHIFTS.c.starts_at < bindparam("end")))),
        _ABSENCES.c.ends_at > bindparam("start"), _ABSENCES.c.starts_at < bindparam("end")))
# The open states as ORs of equalities (not an IN list, which is expanded per call);
# SQLite reads them as the same IN on the (assigned_to, state) index.
_OPEN_LOAD_SYNC = (select(func.count()).select_from(_CONSULTS)
                   .where(_CONSULTS.c.assigned_to == _USERS.c.id,
                          or_(*(_CONSULTS.c.state == s.value for s in OPEN_STATES)))
                   .scalar_subquery())
_CANDIDATES = PrecompiledQuery(
    select(_USERS.c.id, _USERS.c.active, _USERS.c.last_assigned_at, _USERS.c.open_cap,
           _OPEN_LOAD_SYNC)
    .join(_HOLDS, _HOLDS.c.user_id == _USERS.c.id)
    .where(_HOLDS.c.specialty == bindparam("s")))
_SPECIALTY_COLUMNS = tuple(c.name for c in _SPECIALTIES.c)


def load_specialty_sync(conn: Connection, slug: str) -> Specialty:
    rows = _GET_SPECIALTY.rows(conn, {"slug": slug})
    if not rows:
        raise InvalidInput(f"Unknown specialty {slug!r}.", field="specialty")
    return as_loaded(Specialty, dict(zip(_SPECIALTY_COLUMNS, rows[0], strict=True)))


@functools.lru_cache(maxsize=64)
def _patterns(rows: tuple[tuple[Any, ...], ...]) -> tuple[WeeklyPattern, ...]:
    """A specialty's weekly rows as patterns, built (and checked) once per set of rows:
    the rota changes rarely, every submission reads it. WeeklyPattern is frozen."""
    return tuple(WeeklyPattern(sid, weekday, start, end, Tier(tier))
                 for sid, weekday, start, end, tier in rows)


def route_sync(conn: Connection, *, specialty: Specialty, urgency: str, now: datetime,
               tz: ZoneInfo, preferred: int | None = None) -> Decision:
    """`route` on a synchronous connection: the same rows, the same pure decision."""
    start, end = now, now + _INSTANT
    window = {"s": specialty.slug, "start": start, "end": end}
    weekly = _WEEKLY_OF.rows(conn, window)
    shifts = _SHIFTS_OF.rows(conn, window)
    absences = _ABSENCES_OF.rows(conn, window) if weekly or shifts else []
    on_call = expand(
        _patterns(tuple(weekly)),
        [Shift(sid, starts, ends, Tier(tier), id_) for sid, starts, ends, tier, id_ in shifts],
        [Absence(sid, starts, ends) for sid, starts, ends in absences],
        start, end, tz)
    candidates = {
        int(uid): SpecialistState(
            specialist_id=int(uid), specialties=frozenset({specialty.slug}), active=active,
            open_load=int(n), cap=specialty.open_cap, last_assigned_at=last,
            personal_cap=cap)
        for uid, active, last, cap, n in _CANDIDATES.rows(conn, {"s": specialty.slug})
        if uid is not None
    }
    return decide(RoutingRequest(specialty.slug, Urgency(urgency), frozenset(), preferred),
                  on_call, candidates, now)
