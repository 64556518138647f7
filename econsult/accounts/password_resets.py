"""Getting back into an account, and changing one's own password.

An admin resets a password in one of two ways, both audited, both ending every
session the account has:
- a one-time link (valid RESET_LINK_HOURS) the admin passes on; the user chooses a
  password there. Only the link's SHA-256 is stored; issuing a new one voids the old.
- a temporary password the admin passes on; it works once, for a session that can do
  nothing but choose a password of the user's own (`must_change_password`).
Argon2 runs outside the transactions.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.models import AuthSession, PasswordReset, User
from econsult.security import audit, sessions
from econsult.security.audit import Actor
from econsult.security.passwords import PasswordRejected, Passwords, validate_password
from econsult.security.policy import Action, Principal, require

RESET_LINK_HOURS = 24
_GONE = "This reset link has expired or was already used. Ask an administrator for a new one."


def new_temporary_password() -> str:
    """Four groups of four from an unambiguous alphabet: easy to read out, ~80 bits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


async def issue_reset_link(database: Database, clock: Clock, by: Principal, *,
                           user_id: int, actor: Actor) -> str:
    """A one-time token for /reset/{token}; returned once, stored as a hash."""
    require(by, Action.manage_users)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    async with database.write() as db:
        if await db.get(User, user_id) is None:
            raise NotFound("No such user.")
        await db.execute(update(PasswordReset).where(
            col(PasswordReset.user_id) == user_id, col(PasswordReset.used_at).is_(None))
            .values(used_at=now))  # one live link per account
        db.add(PasswordReset(user_id=user_id, token_hash=sessions.hash_token(token),
                             created_at=now, expires_at=now + timedelta(hours=RESET_LINK_HOURS),
                             created_by=by.id))
        revoked = await sessions.revoke_all(db, user_id, now=now)
        await audit.append(db, actor=actor, action="user.password_reset_link", at=now,
                           object_type="user", object_id=str(user_id),
                           detail=f"sessions_revoked={revoked}")
    return token


async def set_temporary_password(database: Database, clock: Clock, passwords: Passwords,
                                 by: Principal, *, user_id: int, actor: Actor) -> str:
    """A new password for the account, to be changed at its next login; returned once."""
    require(by, Action.manage_users)
    temporary = new_temporary_password()
    hashed = await asyncio.to_thread(passwords.hash, temporary)
    now = clock.now()
    async with database.write() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        user.password_hash, user.must_change_password = hashed, True
        revoked = await sessions.revoke_all(db, user_id, now=now)
        await audit.append(db, actor=actor, action="user.password_temporary", at=now,
                           object_type="user", object_id=str(user_id),
                           detail=f"sessions_revoked={revoked}")
    return temporary


async def reset_link_owner(database: Database, clock: Clock, token: str) -> str:
    """The email a live link resets (for its page), or NotFound."""
    async with database.read() as db:
        reset = await _live_link(db, token, clock)
        user = await db.get(User, reset.user_id)
    if user is None or not user.active:
        raise NotFound(_GONE)
    return user.email


async def use_reset_link(database: Database, clock: Clock, passwords: Passwords, *,
                         token: str, new_password: str, client_addr: str) -> None:
    email = await reset_link_owner(database, clock, token)
    async with database.read() as db:
        user = (await db.execute(select(User).where(col(User.email) == email))).scalar_one()
    _check(new_password, user)
    hashed = await asyncio.to_thread(passwords.hash, new_password)
    now = clock.now()
    async with database.write() as db:
        reset = await _live_link(db, token, clock)
        claimed = await db.execute(update(PasswordReset).where(
            col(PasswordReset.id) == reset.id, col(PasswordReset.used_at).is_(None))
            .values(used_at=now).execution_options(synchronize_session=False))
        if getattr(claimed, "rowcount", 0) != 1:
            raise NotFound(_GONE)
        await db.execute(update(User).where(col(User.id) == reset.user_id)
                         .values(password_hash=hashed, must_change_password=False))
        await sessions.revoke_all(db, reset.user_id, now=now)
        await audit.append(db, actor=Actor(user.id, user.email, client_addr),
                           action="user.password_reset", at=now, object_type="user",
                           object_id=str(user.id), detail="via=link")


async def change_own_password(database: Database, clock: Clock, passwords: Passwords,
                              user: Principal, *, current: str, new_password: str,
                              session_id: int, actor: Actor) -> None:
    """Change one's own password; every other session of the account ends."""
    require(user, Action.own_account)
    async with database.read() as db:
        row = await db.get(User, user.id)
    if row is None:
        raise NotFound("No such user.")
    if not await asyncio.to_thread(passwords.verify, row.password_hash, current):
        raise InvalidInput("Your current password is not right.", field="current_password")
    if new_password == current:
        raise InvalidInput("Choose a password different from the one you have.",
                           field="new_password")
    _check(new_password, row)
    hashed = await asyncio.to_thread(passwords.hash, new_password)
    now = clock.now()
    async with database.write() as db:
        await db.execute(update(User).where(col(User.id) == user.id)
                         .values(password_hash=hashed, must_change_password=False))
        others = await db.execute(update(AuthSession).where(
            col(AuthSession.user_id) == user.id,
            col(AuthSession.id) != session_id,
            col(AuthSession.revoked_at).is_(None)).values(revoked_at=now))
        await audit.append(db, actor=actor, action="user.password_change", at=now,
                           object_type="user", object_id=str(user.id),
                           detail=f"sessions_revoked={getattr(others, 'rowcount', 0)}")


def _check(password: str, user: User) -> None:
    try:
        validate_password(password, email=user.email, name=user.name)
    except PasswordRejected as exc:
        raise InvalidInput(str(exc), field="new_password") from None


async def _live_link(db: AsyncSession, token: str, clock: Clock) -> PasswordReset:
    if not token or len(token) > 128:
        raise NotFound(_GONE)
    reset = (await db.execute(select(PasswordReset).where(
        col(PasswordReset.token_hash) == sessions.hash_token(token)))).scalar_one_or_none()
    if reset is None or reset.used_at is not None or reset.expires_at <= clock.now():
        raise NotFound(_GONE)
    return reset
