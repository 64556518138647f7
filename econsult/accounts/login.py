"""Logging in and out. Each public function owns one transaction and writes its audit
row inside it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from econsult.accounts.users import public, specialties_of
from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.errors import BadCredentials, RateLimited
from econsult.models import User, UserPublic
from econsult.security import audit, sessions, throttle
from econsult.security.audit import Actor
from econsult.security.passwords import Passwords

BAD_CREDENTIALS = "Email or password is incorrect."


@dataclass(frozen=True)
class LoginResult:
    token: str
    csrf_token: str
    user: UserPublic


def session_policy(settings: Settings) -> sessions.SessionPolicy:
    return sessions.SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        lifetime=timedelta(hours=settings.session_max_hours),
    )


async def login(
    database: Database, *, email: str, password: str, client_addr: str, settings: Settings,
    clock: Clock, passwords: Passwords, replaces_session: int | None = None,
) -> LoginResult:
    """Check the credentials and open a new session. A session the browser already
    had is revoked, so a token planted before login is worth nothing after it."""
    email = email.strip().lower()
    window = timedelta(minutes=settings.login_window_minutes)
    now = clock.now()
    async with database.read() as db:
        wait = await throttle.retry_after(db, email=email, addr=client_addr, now=now,
                                          limit=settings.login_max_failures, window=window)
        user = (await db.execute(select(User).where(col(User.email) == email))).scalar_one_or_none()
    actor = Actor(id=user.id if user else None, email=email[:254], client_addr=client_addr)
    if wait is not None:
        async with database.write() as db:
            await audit.append(db, actor=actor, action="auth.login", at=now,
                               outcome="throttled", object_type="user",
                               object_id=str(user.id) if user else "")
        raise RateLimited("Too many failed attempts. Try again later.", retry_after=wait)
    # Verified outside any transaction: argon2 is deliberately slow.
    ok = await asyncio.to_thread(passwords.verify,
                                 user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    if not ok or user is None:
        async with database.write() as db:
            await throttle.record_failure(db, email=email, addr=client_addr, now=now)
            await audit.append(db, actor=actor, action="auth.login", at=now, outcome="failed",
                               object_type="user", object_id=str(user.id) if user else "")
        raise BadCredentials(BAD_CREDENTIALS)
    new_hash = (await asyncio.to_thread(passwords.hash, password)
                if passwords.needs_rehash(user.password_hash) else None)
    async with database.write() as db:
        if new_hash:
            await db.execute(update(User).where(col(User.id) == user.id)
                             .values(password_hash=new_hash))
        if replaces_session is not None:
            await sessions.revoke(db, replaces_session, now=now)
        token, row = await sessions.create(db, user=user, now=now,
                                           policy=session_policy(settings),
                                           client_addr=client_addr)
        await throttle.clear_account(db, email=email, now=now, window=window)
        await audit.append(db, actor=actor, action="auth.login", at=now,
                           object_type="user", object_id=str(user.id))
        specialties = await specialties_of(db, user.id or 0)
    return LoginResult(token=token, csrf_token=row.csrf_token, user=public(user, specialties))


async def logout(database: Database, *, session_id: int, actor: Actor, clock: Clock) -> None:
    now = clock.now()
    async with database.write() as db:
        await sessions.revoke(db, session_id, now=now)
        await audit.append(db, actor=actor, action="auth.logout", at=now,
                           object_type="session", object_id=str(session_id))


