"""Turnaround for program staff: the figures, the reports and the exports, each asking
the policy first and reading in one snapshot. Only timestamps and codes are read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

from econsult.db import Database
from econsult.errors import NotFound
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require
from econsult.turnaround import aggregates, export, report
from econsult.turnaround.aggregates import Stats, Summary
from econsult.turnaround.filters import Filters, where_of
from econsult.turnaround.report import Dashboard, SpecialistRow

SPECIALIST_COLUMNS = ("specialist_id", "name", "specialties", *aggregates.CONTRACT_FIELDS,
                      "mean_usefulness")


async def summary(db: Database, user: Principal, filters: Filters) -> Summary:
    require(user, Action.view_turnaround)
    async with db.read() as session:
        return await aggregates.summarise(session, filters)


async def specialists(db: Database, user: Principal,
                      filters: Filters) -> tuple[list[SpecialistRow], Stats]:
    """Per-specialist rows, and the whole program's figures for the same filters."""
    require(user, Action.view_turnaround)
    return await _specialists(db, filters)


async def _specialists(db: Database, filters: Filters) -> tuple[list[SpecialistRow], Stats]:
    async with db.read() as session:
        rows = await report.specialists(session, filters)
        program = (await aggregates.grouped(session, where_of(filters), []))[()]
    return rows, program


async def dashboard(db: Database, user: Principal, filters: Filters,
                    tz: ZoneInfo) -> Dashboard:
    require(user, Action.view_turnaround)
    async with db.read() as session:
        return await report.dashboard(session, filters, tz)


async def specialist_report(db: Database, user: Principal, filters: Filters,
                            specialist_id: int
                            ) -> tuple[SpecialistRow, dict[str, tuple[Stats, Stats]]]:
    require(user, Action.view_turnaround)
    async with db.read() as session:
        try:
            return await report.specialist(session, filters, specialist_id)
        except LookupError:
            raise NotFound("Not found.") from None


async def export_consults(db: Database, user: Principal, filters: Filters, *, actor: Actor,
                          at: datetime) -> AsyncIterator[str]:
    """The de-identified CSV, audited before the first row leaves."""
    require(user, Action.export_turnaround)
    await export.record_export(db, actor=actor, at=at, what="turnaround.consults",
                               filters=filters)
    return export.consult_rows(db, filters)


async def export_specialists(db: Database, user: Principal, filters: Filters, *,
                             actor: Actor, at: datetime) -> str:
    """The per-specialist report as CSV, with a final row for the whole program."""
    require(user, Action.export_turnaround)
    await export.record_export(db, actor=actor, at=at, what="turnaround.specialists",
                               filters=filters)
    rows, program = await _specialists(db, filters)
    table: list[list[object]] = [list(SPECIALIST_COLUMNS)]
    for r in rows:
        data = {**r.to_json(), "specialties": " ".join(r.specialties)}
        table.append([data[c] for c in SPECIALIST_COLUMNS])
    table.append(["", "program", "", *[program.full()[c] for c in SPECIALIST_COLUMNS[3:]]])
    return export.csv_text(table)
