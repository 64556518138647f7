"""User accounts: create, list, disable. Each public function owns one transaction
and writes its audit row inside it. Disabling a specialist hands every open consult
they hold back to routing in the same transaction (econsult.consults.handback)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts import delegates
from econsult.clock import Clock
from econsult.consults.handback import (
    HandbackDeps,
    Moves,
    Why,
    count_held,
    hand_back_held,
    publish_moves,
)
from econsult.db import Database
from econsult.errors import Conflict, InvalidInput, NotFound
from econsult.models import (
    AuthSession,
    Role,
    Specialty,
    User,
    UserCreate,
    UserPublic,
    UserSpecialty,
)
from econsult.security import audit, sessions
from econsult.security.audit import Actor
from econsult.security.passwords import PasswordRejected, Passwords, validate_password
from econsult.security.policy import Action, Principal, require


async def specialties_of(db: AsyncSession, user_id: int) -> list[str]:
    rows = await db.execute(
        select(col(UserSpecialty.specialty))
        .where(col(UserSpecialty.user_id) == user_id)
        .order_by(col(UserSpecialty.specialty))
    )
    return list(rows.scalars())


def public(user: User, specialties: list[str]) -> UserPublic:
    return UserPublic(id=user.id or 0, email=user.email, name=user.name, role=user.role,
                      active=user.active, specialties=specialties)


def public_from_principal(p: Principal) -> UserPublic:
    return UserPublic(id=p.id, email=p.email, name=p.name, role=Role(p.role), active=p.active,
                      specialties=sorted(p.specialties))


async def create_user(
    database: Database, *, email: str, name: str, role: str, password: str,
    specialties: list[str], actor: Actor, clock: Clock, passwords: Passwords,
    by: Principal | None, delegate_for: Sequence[str] = (),
) -> UserPublic:
    """`by` is the admin acting on a page, or None for the command line (whoever runs
    it owns the machine). `delegate_for`: the emails of the GPs a delegate works for."""
    if by is not None:
        require(by, Action.manage_users)
    try:
        role_value = Role(role)
    except ValueError:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}.",
                           field="role") from None
    try:
        base = UserCreate.model_validate(
            {"email": email, "name": name, "role": role_value, "password": password,
             "specialties": specialties}
        )
    except ValueError as exc:
        raise InvalidInput(_first_error(exc), field="email") from None
    try:
        validate_password(password, email=base.email, name=base.name)
    except PasswordRejected as exc:
        raise InvalidInput(str(exc), field="password") from None
    if role_value is Role.specialist and not specialties:
        raise InvalidInput("A specialist needs at least one specialty.", field="specialties")
    if role_value is not Role.specialist and specialties:
        raise InvalidInput("Only specialists hold specialties.", field="specialties")
    delegates.check_role(role_value, delegate_for)
    # argon2 is deliberately slow (~0.1 s of CPU): outside the transaction, off the loop.
    password_hash = await asyncio.to_thread(passwords.hash, password)
    now = clock.now()
    try:
        async with database.write() as db:
            taken = select(col(User.id)).where(col(User.email) == base.email)
            if (await db.execute(taken)).first():
                raise Conflict("An account with that email already exists.", code="email_taken")
            known = set((await db.execute(
                select(col(Specialty.slug)).where(col(Specialty.slug).in_(specialties))
            )).scalars())
            unknown = sorted(set(specialties) - known)
            if unknown:
                raise InvalidInput(f"Unknown specialty: {', '.join(unknown)}.", field="specialties")
            user = User(email=base.email, name=base.name, role=role_value,
                        password_hash=password_hash, active=True, created_at=now)
            db.add(user)
            await db.flush()
            for slug in sorted(set(specialties)):
                db.add(UserSpecialty(user_id=user.id or 0, specialty=slug))
            await audit.append(db, actor=actor, action="user.create", at=now,
                               object_type="user", object_id=str(user.id), detail=f"role={role}")
            if delegate_for:
                await delegates.link_new_delegate(db, delegate=user, gp_emails=delegate_for,
                                                  actor=actor, now=now)
    except IntegrityError:
        # Two concurrent creations of one email: the unique index decides (PostgreSQL
        # lets both pass the check above; SQLite serialises writers).
        raise Conflict("An account with that email already exists.", code="email_taken") from None
    return public(user, sorted(set(specialties)))


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        for err in errors():
            msg = str(err.get("msg", ""))
            return msg.removeprefix("Value error, ").capitalize() + "."
    return str(exc)


async def list_users(database: Database, by: Principal) -> list[UserPublic]:
    require(by, Action.manage_users)
    async with database.read() as db:
        users = (await db.execute(select(User).order_by(col(User.role), col(User.name)))).scalars()
        links = (await db.execute(select(UserSpecialty))).scalars().all()
        by_user: dict[int, list[str]] = {}
        for link in links:
            by_user.setdefault(link.user_id, []).append(link.specialty)
        return [public(u, sorted(by_user.get(u.id or 0, []))) for u in users]


@dataclass(frozen=True)
class DisablePreview:
    """What disabling an account would do, for the admin's confirmation."""

    user: UserPublic
    sessions: int
    consults: int


async def preview_disable(database: Database, *, user_id: int, clock: Clock,
                          by: Principal) -> DisablePreview:
    require(by, Action.manage_users)
    async with database.read() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        live = await db.execute(select(func.count()).select_from(AuthSession).where(
            col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > clock.now()))
        held = await count_held(db, user_id)
        return DisablePreview(public(user, await specialties_of(db, user_id)),
                              int(live.scalar() or 0), held)


@dataclass(frozen=True)
class ActiveChange:
    user: UserPublic
    sessions_revoked: int
    consults_moved: int


async def set_active(
    deps: HandbackDeps, *, user_id: int, active: bool, actor: Actor, by: Principal,
) -> ActiveChange:
    """Disable (or re-enable) an account; disabling ends every session it has and hands
    the open consults it holds back to routing."""
    require(by, Action.manage_users)
    now = deps.clock.now()
    moves = Moves.new()
    async with deps.db.write() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if actor.id == user_id and not active:
            raise Conflict("You cannot disable your own account.", code="self_disable")
        user.active = active
        revoked = moved = 0
        if not active:
            revoked = await sessions.revoke_all(db, user_id, now=now)
            await db.flush()  # routing must see the account as inactive
            moved = await hand_back_held(deps, db, holder_id=user_id, why=Why.holder_disabled,
                                         actor=actor, now=now, moves=moves)
        await audit.append(db, actor=actor, action="user.enable" if active else "user.disable",
                           at=now, object_type="user", object_id=str(user_id),
                           detail=f"sessions_revoked={revoked}"
                                  + (f" consults_moved={moved}" if not active else ""))
        specialties = await specialties_of(db, user_id)
    await publish_moves(deps, moves)
    return ActiveChange(public(user, specialties), revoked, moved)
