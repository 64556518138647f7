"""Logging in and out. Each public function owns one transaction and writes its audit
row inside it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts.users import public, specialties_of
from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.errors import BadCredentials, RateLimited
from econsult.models import AuthSession, Passkey, RecoveryCode, TotpCredential, User, UserPublic
from econsult.security import audit, sessions, throttle
from econsult.security.audit import Actor
from econsult.security.passwords import Passwords

BAD_CREDENTIALS = "Email or password is incorrect."
# A session that has passed the password but owes a second factor lives this long.
PENDING_LIFETIME = timedelta(minutes=10)
# An address the person completed a login from within this long is theirs: the
# account-wide throttle ceiling does not apply to it (security.throttle).
KNOWN_ADDRESS_DAYS = 30


@dataclass(frozen=True)
class LoginResult:
    token: str
    csrf_token: str
    user: UserPublic
    # True: `token` is a pending session that may only finish the second factor, by
    # one of `methods` ("totp", "webauthn", "recovery_code"; or "enrol" alone).
    mfa_required: bool = False
    methods: tuple[str, ...] = ()
    amr: tuple[str, ...] = ("pwd",)


def mfa_required_for(settings: Settings, role: str) -> bool:
    return str(role) in settings.mfa_required


async def factor_methods(db: AsyncSession, user_id: int) -> tuple[str, ...]:
    """The second factors this person has: "totp", "webauthn", "recovery_code"."""
    totp = await db.scalar(select(func.count()).select_from(TotpCredential).where(
        col(TotpCredential.user_id) == user_id, col(TotpCredential.confirmed_at).is_not(None)))
    passkeys = await db.scalar(select(func.count()).select_from(Passkey).where(
        col(Passkey.user_id) == user_id))
    codes = await db.scalar(select(func.count()).select_from(RecoveryCode).where(
        col(RecoveryCode.user_id) == user_id))
    found = []
    if passkeys:
        found.append("webauthn")  # the stronger option first
    if totp:
        found.append("totp")
    if codes and (totp or passkeys):
        found.append("recovery_code")
    return tuple(found)


async def login_methods(db: AsyncSession, user: User, settings: Settings) -> tuple[str, ...]:
    """What the second step asks of this person: their factors; ("enrol",) when their
    role requires one and they have none; () when there is no second step. A person
    who enrolled of their own accord is asked for it whatever the setting."""
    methods = await factor_methods(db, user.id or 0)
    if not methods and mfa_required_for(settings, user.role):
        return ("enrol",)
    return methods


async def known_address(db: AsyncSession, user_id: int, addr: str, now: datetime) -> bool:
    """The person completed a login from `addr` within KNOWN_ADDRESS_DAYS."""
    since = now - timedelta(days=KNOWN_ADDRESS_DAYS)
    found = await db.scalar(select(exists().where(
        col(AuthSession.user_id) == user_id, col(AuthSession.client_addr) == addr[:64],
        col(AuthSession.mfa_pending).is_(False), col(AuthSession.created_at) > since)))
    return bool(found)


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
        user = (await db.execute(select(User).where(col(User.email) == email))).scalar_one_or_none()
        known = user is not None and await known_address(db, user.id or 0, client_addr, now)
        wait = await throttle.retry_after(db, email=email, addr=client_addr, now=now,
                                          limit=settings.login_max_failures, window=window,
                                          known_address=known)
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
        methods = await login_methods(db, user, settings)
        token, row = await sessions.create(db, user=user, now=now,
                                           policy=session_policy(settings),
                                           client_addr=client_addr, mfa_pending=bool(methods),
                                           lifetime=PENDING_LIFETIME if methods else None)
        await throttle.clear_account(db, email=email, addr=client_addr, now=now)
        # With a second factor owed, the password step is recorded as such; the login
        # is "ok" only when the factor completes it (auth.mfa, accounts.mfa).
        await audit.append(db, actor=actor, action="auth.login", at=now,
                           outcome="mfa_required" if methods else "ok",
                           object_type="user", object_id=str(user.id),
                           detail=f"methods={','.join(methods)}" if methods else "amr=pwd")
        specialties = await specialties_of(db, user.id or 0)
    return LoginResult(token=token, csrf_token=row.csrf_token, user=public(user, specialties),
                       mfa_required=bool(methods), methods=methods)


async def logout(database: Database, *, session_id: int, actor: Actor, clock: Clock) -> None:
    now = clock.now()
    async with database.write() as db:
        await sessions.revoke(db, session_id, now=now)
        await audit.append(db, actor=actor, action="auth.logout", at=now,
                           object_type="session", object_id=str(session_id))


