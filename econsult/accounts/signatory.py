"""How a specialist signs answers: their name with their credentials and registration
number (never "on behalf of the department"). Each specialist edits their own on
/account; an admin edits anyone's on /admin/users/{id}; `econsult user add` sets them
with --credentials and --registration. Every change is audited."""

from __future__ import annotations

import re
from dataclasses import dataclass

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.models import Role, User
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, may

_REGISTRATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]{0,63}")


@dataclass(frozen=True, slots=True)
class SignatoryProfile:
    user_id: int
    name: str
    credentials: str
    registration: str


def clean(credentials: str, registration: str) -> tuple[str, str]:
    credentials = " ".join(credentials.split())
    registration = " ".join(registration.split())
    if len(credentials) > 200:
        raise InvalidInput("Credentials are too long (at most 200 characters).",
                           field="credentials")
    if registration and not _REGISTRATION.fullmatch(registration):
        raise InvalidInput("A registration number is 1 to 64 letters, digits, spaces, dots, "
                           "slashes or hyphens.", field="registration")
    return credentials, registration


def _may_edit(by: Principal | None, user_id: int) -> bool:
    if by is None:  # the command line: whoever runs it owns the machine
        return True
    own = by.id == user_id and by.role is Role.specialist and may(by, Action.own_account)
    return own or may(by, Action.manage_users)


async def profile(db: Database, by: Principal, user_id: int) -> SignatoryProfile:
    if not _may_edit(by, user_id):
        raise NotFound("Not found.")
    async with db.read() as session:
        user = await session.get(User, user_id)
    if user is None or user.id is None:
        raise NotFound("Not found.")
    return SignatoryProfile(user.id, user.name, user.credentials, user.registration)


async def set_signatory(db: Database, clock: Clock, by: Principal | None, *, user_id: int,
                        credentials: str, registration: str, actor: Actor) -> SignatoryProfile:
    if not _may_edit(by, user_id):
        raise NotFound("Not found.")
    credentials, registration = clean(credentials, registration)
    now = clock.now()
    async with db.write() as session:
        user = await session.get(User, user_id)
        if user is None or user.id is None:
            raise NotFound("Not found.")
        if Role(user.role) is not Role.specialist:
            raise InvalidInput("Only specialists sign answers.", field="registration")
        user.credentials, user.registration = credentials, registration
        await audit.append(session, actor=actor, action="user.signatory", at=now,
                           object_type="user", object_id=str(user_id),
                           detail=f"registration={registration or '-'}")
        return SignatoryProfile(user.id, user.name, credentials, registration)
