"""The staff work list: every open consult that needs a person now, and why.

Listed: breached or at risk on the response clock; in the pool past its acknowledge
window; not acknowledged with its acknowledge window nearly over; held by someone who
cannot act on it (disabled, not of the specialty, away) or who is off the rota while it
waits for them; or open with nobody holding it. Codes and times only, plus the names
of the specialists involved: never a patient's name, the question or a photo (none of
those columns is read here).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults import deadlines
from econsult.consults.deps import ConsultDeps
from econsult.consults.routing_io import on_call_intervals, targets_of
from econsult.models import (
    OPEN_STATES,
    Consult,
    ConsultState,
    Role,
    RotaAbsence,
    Specialty,
    User,
    UserSpecialty,
)
from econsult.models.types import UTCDateTime
from econsult.routing.rota import on_call_at
from econsult.routing.targets import Target, Urgency
from econsult.security.policy import Action, Principal, may_hold, require

S = ConsultState
LIMIT = 500
_ACK_SOON = 1 - deadlines.AT_RISK_FRACTION  # the last quarter of the acknowledge window
_COLUMNS = (col(Consult.id), col(Consult.specialty), col(Consult.urgency), col(Consult.state),
            col(Consult.assigned_to), col(Consult.submitted_at), col(Consult.respond_due_at),
            col(Consult.ack_due_at), col(Consult.at_risk_at), col(Consult.breached_at))
REASONS = {
    "breached": "past its response target",
    "at_risk": "response target nearly due",
    "pooled_unacknowledged": "in the pool, nobody acknowledged it within its window",
    "ack_due_soon": "not acknowledged, its acknowledge window is nearly over",
    "ack_overdue": "not acknowledged within its window",
    "holder_inactive": "held by a disabled account",
    "holder_cannot_act": "held by someone who no longer takes these consults",
    "holder_absent": "its specialist is away",
    "holder_off_rota": "waiting for a specialist who is not on call",
    "unheld": "nobody holds it",
}


@dataclass(slots=True)
class Reason:
    code: str
    text: str


@dataclass(slots=True)
class HolderRef:
    id: int
    name: str
    email: str
    active: bool
    on_call: bool
    away_until: str | None


@dataclass(slots=True)
class WorkItem:
    id: str
    specialty: str
    urgency: str
    state: str
    holder: HolderRef | None
    submitted_at: str
    due_at: str | None
    ack_due_at: str | None
    seconds_left: float | None  # to the response deadline; negative once overdue
    at_risk: bool
    breached: bool
    reasons: list[Reason]


@dataclass(slots=True)
class Candidate:
    """Someone a consult could be reassigned to."""

    email: str
    name: str
    on_call: bool
    away: bool
    open_load: int


@dataclass
class WorkList:
    items: list[WorkItem]
    generated_at: str
    # Per specialty on the list: who could take its consults.
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)


@dataclass
class _Facts:
    now: datetime
    targets: dict[str, dict[Urgency, Target]]
    holders: dict[int, Principal]
    away: dict[int, datetime]
    on_call: dict[str, set[int]]


async def work_list(deps: ConsultDeps, user: Principal) -> WorkList:
    require(user, Action.view_worklist)
    now = deps.clock.now()
    async with deps.db.read() as db:
        rows = (await db.execute(select(*_COLUMNS).where(
            col(Consult.state).in_(sorted(s.value for s in OPEN_STATES)))
            .order_by(col(Consult.respond_due_at).asc().nulls_last()))).all()
        slugs = sorted({row.specialty for row in rows})
        facts = await _facts(db, deps, now, slugs, {r.assigned_to for r in rows})
        items = []
        for row in rows:
            item = _item(row, facts, deps)
            if item.reasons:
                items.append(item)
        items.sort(key=_urgency_order)
        listed = sorted({i.specialty for i in items[:LIMIT]})
        candidates = await _candidates(db, listed, facts)
    return WorkList(items[:LIMIT], now.isoformat(), candidates)


def _urgency_order(item: WorkItem) -> tuple[int, float, str]:
    band = 0 if item.breached else 1 if item.at_risk else 2
    left = item.seconds_left if item.seconds_left is not None else float("inf")
    return band, left, item.submitted_at


async def _facts(db: AsyncSession, deps: ConsultDeps, now: datetime, slugs: list[str],
                 holder_ids: set[int | None]) -> _Facts:
    specialties = (await db.execute(select(Specialty).where(
        col(Specialty.slug).in_(slugs)))).scalars()
    targets = {s.slug: targets_of(s) for s in specialties}
    on_call: dict[str, set[int]] = {}
    people: set[int] = {i for i in holder_ids if i}
    for slug in slugs:
        intervals = await on_call_intervals(db, slug, now - timedelta(days=1),
                                            now + timedelta(days=1), deps.settings.timezone)
        on_call[slug] = {iv.specialist_id for iv in on_call_at(intervals, now)}
        people |= on_call[slug]
    holders = await _principals(db, people | await _holders_of(db, slugs))
    away = await _away(db, set(holders), now)
    return _Facts(now, targets, holders, away, on_call)


async def _holders_of(db: AsyncSession, slugs: list[str]) -> set[int]:
    return set((await db.execute(select(col(UserSpecialty.user_id)).where(
        col(UserSpecialty.specialty).in_(slugs)))).scalars())


async def _principals(db: AsyncSession, ids: set[int]) -> dict[int, Principal]:
    if not ids:
        return {}
    users = (await db.execute(select(User).where(col(User.id).in_(sorted(ids))))).scalars()
    held: dict[int, set[str]] = defaultdict(set)
    for uid, slug in (await db.execute(select(col(UserSpecialty.user_id),
                                              col(UserSpecialty.specialty))
                                       .where(col(UserSpecialty.user_id).in_(sorted(ids))))):
        held[uid].add(slug)
    return {u.id: Principal(u.id, u.role, u.active, frozenset(held[u.id]), u.email, u.name)
            for u in users if u.id is not None}


async def _away(db: AsyncSession, ids: set[int], now: datetime) -> dict[int, datetime]:
    """Who is away now, and until when."""
    if not ids:
        return {}
    rows = (await db.execute(select(col(RotaAbsence.specialist_id),
                                    func.max(col(RotaAbsence.ends_at)))
                             .where(col(RotaAbsence.specialist_id).in_(sorted(ids)),
                                    col(RotaAbsence.starts_at) <= now,
                                    col(RotaAbsence.ends_at) > now)
                             .group_by(col(RotaAbsence.specialist_id)))).all()
    return {int(sid): UTCDateTime().process_result_value(end, None) or end  # type: ignore[arg-type]
            for sid, end in rows}


def _item(row: Any, facts: _Facts, deps: ConsultDeps) -> WorkItem:
    now = facts.now
    target = facts.targets.get(row.specialty, {}).get(Urgency(row.urgency))
    holder = facts.holders.get(row.assigned_to) if row.assigned_to else None
    reasons = _reasons(row, target, holder, facts, deps)
    left = (row.respond_due_at - now).total_seconds() if row.respond_due_at else None
    ref = None
    if row.assigned_to:
        away = facts.away.get(row.assigned_to)
        ref = HolderRef(row.assigned_to, holder.name if holder else f"user {row.assigned_to}",
                        holder.email if holder else "", bool(holder and holder.active),
                        row.assigned_to in facts.on_call.get(row.specialty, set()),
                        away.isoformat() if away else None)
    return WorkItem(row.id, row.specialty, row.urgency, row.state, ref,
                    row.submitted_at.isoformat(), _iso(row.respond_due_at),
                    _iso(row.ack_due_at), left, row.at_risk_at is not None,
                    row.breached_at is not None, [Reason(c, REASONS[c]) for c in reasons])


def _reasons(row: Any, target: Target | None, holder: Principal | None, facts: _Facts,
             deps: ConsultDeps) -> list[str]:
    now, found = facts.now, []
    if row.breached_at is not None:
        found.append("breached")
    elif row.at_risk_at is not None:
        found.append("at_risk")
    if row.state == S.pooled and target is not None:
        if deadlines.ack_deadline(row.submitted_at, target, deps.calendar) <= now:
            found.append("pooled_unacknowledged")
    if row.state == S.assigned and row.ack_due_at is not None and target is not None:
        left = row.ack_due_at - now
        if left <= timedelta(0):
            found.append("ack_overdue")
        elif left <= target.acknowledge_within * _ACK_SOON:
            found.append("ack_due_soon")
    if row.assigned_to is None:
        if row.state != S.pooled:
            found.append("unheld")
    elif holder is None or not holder.active:
        found.append("holder_inactive")
    elif not may_hold(holder, row):
        found.append("holder_cannot_act")
    elif row.assigned_to in facts.away:
        found.append("holder_absent")
    elif row.state == S.assigned and row.assigned_to not in facts.on_call.get(row.specialty,
                                                                               set()):
        found.append("holder_off_rota")
    return found


async def _candidates(db: AsyncSession, slugs: list[str],
                      facts: _Facts) -> dict[str, list[Candidate]]:
    if not slugs:
        return {}
    load = dict((await db.execute(select(col(Consult.assigned_to), func.count()).where(
        col(Consult.state).in_(sorted(s.value for s in OPEN_STATES)),
        col(Consult.assigned_to).is_not(None)).group_by(col(Consult.assigned_to)))).all())
    out: dict[str, list[Candidate]] = {}
    for slug in slugs:
        people = [p for p in facts.holders.values()
                  if p.active and p.role is Role.specialist and slug in p.specialties]
        people.sort(key=lambda p: (p.id not in facts.on_call.get(slug, set()), p.name))
        out[slug] = [Candidate(p.email, p.name, p.id in facts.on_call.get(slug, set()),
                               p.id in facts.away, int(load.get(p.id, 0))) for p in people]
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
