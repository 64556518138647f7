"""The specialty catalogue and the target windows staff set per specialty."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from econsult.clock import Clock
from econsult.consults.routing_io import targets_of
from econsult.db import Database
from econsult.errors import InvalidInput
from econsult.models import Specialty
from econsult.rota.service import specialty_or_404
from econsult.routing.durations import format_duration
from econsult.routing.targets import (
    InvalidTargets,
    targets_from_json,
    targets_to_json,
    urgencies_for,
)
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require


@dataclass(frozen=True)
class SpecialtyPublic:
    slug: str
    name: str
    targets: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, specialty: Specialty) -> SpecialtyPublic:
        return cls(specialty.slug, specialty.name, targets_to_json(targets_of(specialty)))

    def as_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "targets": self.targets}


async def list_specialties(database: Database) -> list[SpecialtyPublic]:
    async with database.read() as db:
        rows = (await db.execute(select(Specialty).order_by(col(Specialty.name)))).scalars()
        return [SpecialtyPublic.of(s) for s in rows]


async def targets_overview(database: Database, user: Principal) -> list[Specialty]:
    """Every specialty with its stored targets, for the staff page that edits them."""
    require(user, Action.manage_targets)
    async with database.read() as db:
        return list((await db.execute(select(Specialty).order_by(col(Specialty.name)))
                     ).scalars())


async def put_targets(
    database: Database, clock: Clock, user: Principal, *, slug: str, data: object, actor: Actor,
) -> SpecialtyPublic:
    """Replace the windows of the urgencies `data` names; the others keep their values.

    `business_time` left out keeps the specialty's current setting for that urgency.
    """
    require(user, Action.manage_targets)
    now = clock.now()
    async with database.write() as db:
        specialty = await specialty_or_404(db, slug)
        current = targets_of(specialty)
        try:
            changed = targets_from_json(
                data, defaults=current, allowed=urgencies_for(specialty.slug)
            )
        except InvalidTargets as exc:
            raise InvalidInput(str(exc), code="invalid_targets", field="targets") from None
        specialty.targets = json.dumps(targets_to_json({**current, **changed}))
        db.add(specialty)
        await audit.append(
            db,
            actor=actor,
            action="specialty.targets.update",
            at=now,
            object_type="specialty",
            object_id=specialty.slug,
            # The new windows too, so a review of the log can tell what changed.
            detail="urgencies=" + ",".join(sorted(u.value for u in changed)) + "".join(
                f" {u.value}={format_duration(t.acknowledge_within)}/"
                f"{format_duration(t.respond_within)}/"
                f"{'business' if t.business_time else 'calendar'}/{t.at_risk_fraction:g}"
                for u, t in sorted(changed.items())),
        )
    return SpecialtyPublic.of(specialty)
