"""Reviewing the audit log (staff and admins): filter it, check the chain, export it.

The log holds ids and codes, never patient data, so whoever may review it may read
every row. Every look at it is itself recorded (`audit.view`, `audit.export`), with
the filters used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent
from econsult.ops.audit_chain import ChainMonitor, ChainStatus
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require
from econsult.turnaround.export import csv_text

PAGE = 200
EXPORT_LIMIT = 100_000
CSV_HEADER = ("id", "at", "actor_id", "actor_email", "action", "object_type", "object_id",
              "outcome", "detail", "client_addr")


@dataclass(frozen=True)
class AuditFilters:
    person: str = ""  # part of the actor's email, or "system"
    consult: str = ""  # an object id (a consult's id, a user's, ...)
    action: str = ""  # an action, or a prefix of one ("consult.")
    start: datetime | None = None
    end: datetime | None = None
    before: int | None = None  # page back from this row id

    def summary(self) -> str:
        parts = [f"{k}={v}" for k, v in (("person", self.person), ("object", self.consult),
                                         ("action", self.action)) if v]
        parts += [f"{k}={v.isoformat()}" for k, v in (("from", self.start), ("to", self.end))
                  if v is not None]
        return " ".join(parts)[:400]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditEvent]
    more_before: int | None  # the id to page back from, when there are older rows
    chain: ChainStatus
    actions: list[str]


def _where(filters: AuditFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.person:
        text = filters.person.strip().lower()
        where.append(col(AuditEvent.actor_email).contains(text, autoescape=True)
                     if text != "system" else col(AuditEvent.actor_id).is_(None))
    if filters.consult:
        where.append(col(AuditEvent.object_id) == filters.consult.strip())
    if filters.action:
        action = filters.action.strip()
        where.append(or_(col(AuditEvent.action) == action,
                         col(AuditEvent.action).startswith(action.rstrip(".") + ".",
                                                           autoescape=True)))
    if filters.start is not None:
        where.append(col(AuditEvent.at) >= filters.start)
    if filters.end is not None:
        where.append(col(AuditEvent.at) < filters.end)
    return where


async def review(database: Database, user: Principal, filters: AuditFilters, *,
                 actor: Actor, at: datetime, chain: ChainMonitor) -> AuditPage:
    """One page of the log, newest first, and the chain's verification status."""
    require(user, Action.review_audit)
    where = _where(filters)
    if filters.before is not None:
        where.append(col(AuditEvent.id) < filters.before)
    async with database.read() as db:
        rows = list((await db.execute(select(AuditEvent).where(*where)
                                      .order_by(col(AuditEvent.id).desc())
                                      .limit(PAGE + 1))).scalars())
        actions = list((await db.execute(select(col(AuditEvent.action)).distinct()
                                         .order_by(col(AuditEvent.action)))).scalars())
    status = await chain.status(database, at)
    await _record(database, actor, at, "audit.view", filters)
    more = rows[PAGE - 1].id if len(rows) > PAGE else None
    return AuditPage(rows[:PAGE], more, status, actions)


async def export_csv(database: Database, user: Principal, filters: AuditFilters, *,
                     actor: Actor, at: datetime) -> str:
    """The filtered rows, oldest first, as CSV whose cells a spreadsheet cannot run."""
    require(user, Action.review_audit)
    await _record(database, actor, at, "audit.export", filters)
    async with database.read() as db:
        rows = (await db.execute(select(AuditEvent).where(*_where(filters))
                                 .order_by(col(AuditEvent.id)).limit(EXPORT_LIMIT))).scalars()
        table: list[Sequence[object]] = [CSV_HEADER]
        table += [(r.id, r.at, r.actor_id, r.actor_email, r.action, r.object_type, r.object_id,
                   r.outcome, r.detail, r.client_addr) for r in rows]
    return csv_text(table)


async def _record(database: Database, actor: Actor, at: datetime, action: str,
                  filters: AuditFilters) -> None:
    async with database.write() as db:
        await audit.append(db, actor=actor, action=action, at=at, object_type="audit",
                           detail=filters.summary())
