"""Workup checklists as stored data: seeded from the shipped defaults, read by the GP
form, edited by staff. An edit never rewrites a version; it adds the next one, so a
consult sent with version N renders with version N for as long as it exists
(`version_of`). Pure checks and rendering are in `checklists.py`."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.consults.checklists import check_schema, load_defaults
from econsult.consults.deps import ConsultDeps
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import Checklist, Specialty, utcnow
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

_REASON = re.compile(r"[a-z][a-z0-9-]{0,60}")


@dataclass(frozen=True, slots=True)
class ChecklistView:
    """What `GET /specialties/{slug}/checklists` lists: one reason's current version."""

    reason: str
    title: str
    version: int
    schema: dict[str, Any]


def view_of(row: Checklist) -> ChecklistView:
    schema: dict[str, Any] = json.loads(row.document)
    return ChecklistView(row.reason, row.title, row.version, schema)


async def seed_defaults(session: AsyncSession) -> int:
    """Store each shipped checklist whose specialty and reason have none yet (staff
    edits are never overwritten). Returns how many were added."""
    await session.flush()  # specialties added in the same transaction
    have = {(str(s), str(r)) for s, r in (await session.execute(
        select(col(Checklist.specialty), col(Checklist.reason)).distinct())).all()}
    specialties = set((await session.execute(select(col(Specialty.slug)))).scalars())
    added = 0
    now = utcnow()
    for default in load_defaults():
        if default.specialty in specialties and (default.specialty, default.reason) not in have:
            session.add(Checklist(specialty=default.specialty, reason=default.reason,
                                  version=default.version, title=default.title,
                                  document=json.dumps(default.schema), created_at=now))
            added += 1
    return added


def _current_query(specialty: str) -> Any:
    latest = (select(col(Checklist.reason), func.max(col(Checklist.version)).label("v"))
              .where(col(Checklist.specialty) == specialty)
              .group_by(col(Checklist.reason)).subquery())
    return (select(Checklist)
            .join(latest, (latest.c.reason == col(Checklist.reason))
                  & (latest.c.v == col(Checklist.version)))
            .where(col(Checklist.specialty) == specialty)
            .order_by(col(Checklist.id)))


async def current_rows(session: AsyncSession, specialty: str) -> list[Checklist]:
    return list((await session.execute(_current_query(specialty))).scalars())


async def current_one(session: AsyncSession, specialty: str, reason: str) -> Checklist | None:
    return (await session.execute(
        select(Checklist).where(col(Checklist.specialty) == specialty,
                                col(Checklist.reason) == reason)
        .order_by(col(Checklist.version).desc()).limit(1))).scalars().first()


async def version_of(session: AsyncSession, specialty: str, reason: str,
                     version: int) -> Checklist | None:
    return (await session.execute(
        select(Checklist).where(col(Checklist.specialty) == specialty,
                                col(Checklist.reason) == reason,
                                col(Checklist.version) == version))).scalars().first()


async def list_current(deps: ConsultDeps, specialty: str) -> list[ChecklistView]:
    """Every reason's current checklist for a specialty, in the order they were added.
    Not clinical data: any signed-in user may read it."""
    async with deps.db.read() as db:
        if await db.get(Specialty, specialty) is None:
            raise NotFound("Specialty not found.")
        return [view_of(row) for row in await current_rows(db, specialty)]


async def list_versions(deps: ConsultDeps, user: Principal, specialty: str,
                        reason: str) -> list[ChecklistView]:
    """Every version of one checklist, newest first (staff, for the editing page)."""
    require(user, Action.manage_checklists)
    async with deps.db.read() as db:
        rows = list((await db.execute(
            select(Checklist).where(col(Checklist.specialty) == specialty,
                                    col(Checklist.reason) == reason)
            .order_by(col(Checklist.version).desc()))).scalars())
    if not rows:
        raise NotFound("Checklist not found.")
    return [view_of(row) for row in rows]


async def save_version(deps: ConsultDeps, user: Principal, specialty: str, reason: str,
                       schema: object, *, client_addr: str = "") -> ChecklistView:
    """A new version of one reason's checklist (or its first: a new reason). The stored
    `version` (and a versioned `$id`) is the next number, whatever the editor sent."""
    require(user, Action.manage_checklists)
    if not _REASON.fullmatch(reason):
        raise InvalidInput("A reason is lower-case letters, digits and hyphens, starting "
                           "with a letter.", field="reason")
    if not isinstance(schema, Mapping):
        raise InvalidInput("A checklist must be a JSON object.", field="schema")
    document: dict[str, Any] = copy.deepcopy(dict(schema))
    document.setdefault("version", 1)
    check_schema(document)  # before the number changes: the editor's mistakes first
    now = deps.clock.now()
    try:
        async with deps.db.write() as db:
            if await db.get(Specialty, specialty) is None:
                raise NotFound("Specialty not found.")
            last = await current_one(db, specialty, reason)
            version = (last.version + 1) if last else 1
            document["version"] = version
            document["$id"] = f"urn:econsult:checklist:{specialty}:{reason}:v{version}"
            check_schema(document)
            row = Checklist(specialty=specialty, reason=reason, version=version,
                            title=str(document["title"]).strip(), document=json.dumps(document),
                            created_at=now, created_by=user.id)
            db.add(row)
            await audit.append(db, actor=Actor(user.id, user.email, client_addr),
                               action="checklist.save", at=now, object_type="checklist",
                               object_id=f"{specialty}/{reason}", detail=f"version={version}")
    except IntegrityError:
        raise Conflict("Someone saved this checklist at the same moment; reload and try "
                       "again.", code="checklist_version_taken") from None
    return view_of(row)
