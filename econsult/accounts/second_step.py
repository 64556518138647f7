"""What every second factor shares: which session may take which step (a pending
login owes a factor, a complete one manages its own), attempts throttled and
audited per account, and completing a login, which swaps the pending session for
a complete one (`accounts.mfa`, `accounts.mfa_passkeys`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from econsult.accounts.login import (
    LoginResult,
    known_address,
    session_policy,
)
from econsult.accounts.users import public, specialties_of
from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.errors import Conflict, NotAuthenticated, RateLimited
from econsult.models import User
from econsult.security import audit, sessions, throttle
from econsult.security.audit import Actor
from econsult.security.fields import FieldCipher
from econsult.security.mfa_errors import MfaFailed
from econsult.security.policy import Action, require
from econsult.security.sessions import ActiveSession

TOO_MANY = "Too many wrong codes. Try again later."


class MfaDeps(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def db(self) -> Database: ...
    @property
    def fields(self) -> FieldCipher: ...
    @property
    def clock(self) -> Clock: ...


def actor_of(auth: ActiveSession, client_addr: str) -> Actor:
    return Actor(id=auth.principal.id, email=auth.principal.email, client_addr=client_addr)


def require_complete(auth: ActiveSession) -> None:
    if auth.mfa_pending:
        raise NotAuthenticated("Complete the second factor first.", code="mfa_required")
    require(auth.principal, Action.own_account)


def require_pending(auth: ActiveSession) -> None:
    if not auth.mfa_pending:
        raise Conflict("This session has completed its login already.", code="mfa_not_pending")


async def active_user(db: AsyncSession, user_id: int) -> User:
    user = await db.get(User, user_id)
    if user is None or not user.active:
        raise NotAuthenticated("Please log in.")
    return user


# --- throttling ---------------------------------------------------------------------------

def _window(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.login_window_minutes)


async def check_throttle(deps: MfaDeps, auth: ActiveSession, client_addr: str,
                          method: str) -> None:
    now = deps.clock.now()
    async with deps.db.read() as db:
        known = await known_address(db, auth.principal.id, client_addr, now)
        wait = await throttle.mfa_retry_after(db, user_id=auth.principal.id, addr=client_addr,
                                              now=now, limit=deps.settings.login_max_failures,
                                              window=_window(deps.settings),
                                              known_address=known)
    if wait is not None:
        async with deps.db.write() as db:
            await audit.append(db, actor=actor_of(auth, client_addr), action="auth.mfa", at=now,
                               outcome="throttled", object_type="user",
                               object_id=str(auth.principal.id), detail=f"method={method}")
        raise RateLimited(TOO_MANY, retry_after=wait)


async def record_failure(deps: MfaDeps, auth: ActiveSession, client_addr: str, method: str,
                error: MfaFailed, *, outcome: str = "failed") -> MfaFailed:
    now = deps.clock.now()
    async with deps.db.write() as db:
        await throttle.record_mfa_failure(db, user_id=auth.principal.id, addr=client_addr,
                                          now=now)
        await audit.append(db, actor=actor_of(auth, client_addr), action="auth.mfa", at=now,
                           outcome=outcome, object_type="user",
                           object_id=str(auth.principal.id), detail=f"method={method}")
    return error


async def complete_login(db: AsyncSession, deps: MfaDeps, auth: ActiveSession, user: User,
                    factor: str, client_addr: str, now: datetime) -> LoginResult:
    """Inside the caller's transaction: the pending session ends, a complete one opens."""
    amr = ("pwd", factor)
    await sessions.revoke(db, auth.session_id, now=now)
    token, row = await sessions.create(db, user=user, now=now,
                                       policy=session_policy(deps.settings),
                                       client_addr=client_addr, amr=amr)
    await throttle.clear_mfa(db, user_id=user.id or 0, addr=client_addr)
    await audit.append(db, actor=actor_of(auth, client_addr), action="auth.mfa", at=now,
                       object_type="user", object_id=str(user.id),
                       detail=f"amr={' '.join(amr)}")
    specialties = await specialties_of(db, user.id or 0)
    return LoginResult(token=token, csrf_token=row.csrf_token, user=public(user, specialties),
                       amr=amr)


