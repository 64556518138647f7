"""Continuity and choice: the specialists a GP may address by name for a specialty, and
the GP's usual one (remembered at each submission that named one, prefilled next time).
Routing still decides: a named specialist gets the consult only when on call and under
their cap (econsult.routing.decision)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from econsult.consults.deps import ConsultDeps
from econsult.consults.on_behalf import responsible_gp
from econsult.errors import NotFound
from econsult.models import Role, Specialty, User, UserSpecialty, UsualSpecialist
from econsult.security.policy import Action, Principal, require


@dataclass(slots=True)
class NamedSpecialist:
    name: str
    email: str
    credentials: str


@dataclass(slots=True)
class SpecialistChoice:
    specialty: str
    specialists: list[NamedSpecialist]
    usual: str | None  # the email of the GP's usual specialist for this specialty


async def choice(deps: ConsultDeps, user: Principal, specialty: str,
                 gp_email: str = "") -> SpecialistChoice:
    """For the people who submit consults (a GP; a delegate naming the GP)."""
    require(user, Action.submit_consult)
    async with deps.db.read() as db:
        if await db.get(Specialty, specialty) is None:
            raise NotFound("Specialty not found.")
        gp_id = await responsible_gp(db, user, gp_email)
        people = list((await db.execute(
            select(User).join(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
            .where(col(UserSpecialty.specialty) == specialty,
                   col(User.role) == Role.specialist.value, col(User.active).is_(True))
            .order_by(col(User.name)))).scalars())
        usual = await db.get(UsualSpecialist, (gp_id, specialty))
    emails = {p.id: p.email for p in people}
    return SpecialistChoice(
        specialty, [NamedSpecialist(p.name, p.email, p.credentials) for p in people],
        emails.get(usual.specialist_id) if usual else None)
