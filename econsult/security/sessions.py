"""Server-side sessions: the browser holds a random token, the database its hash.

Revocation is immediate (logout, account disabled), the idle timeout (automatic
logoff) and the absolute lifetime are checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuthSession, DelegateLink, Role, User, UserSpecialty
from econsult.security.policy import Principal

# Refreshing last_seen_at is a database write; doing it at most once a minute keeps
# reads cheap. The idle timeout stays exact to the second in the process that saw the
# activity (accounts/session_touches.py remembers every request); a second process
# reads the stored time, which lags by less than this.
TOUCH_EVERY = timedelta(seconds=60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta


@dataclass(frozen=True)
class ActiveSession:
    session_id: int
    csrf_token: str
    principal: Principal
    needs_touch: bool
    expires_at: datetime
    # A temporary password was used: only choosing a new one is open to this session.
    must_change_password: bool = False
    # The password was right, a second factor is still owed (http.auth closes
    # everything but the MFA step and logout to it).
    mfa_pending: bool = False
    # How this session was authenticated, e.g. ("pwd", "otp").
    amr: tuple[str, ...] = ("pwd",)
    # The last activity known when it was resolved, and the end of its absolute
    # lifetime: when it ends if nothing else happens is the earlier of
    # last_seen_at + idle and lifetime_ends_at (`ends_at`).
    last_seen_at: datetime | None = None
    lifetime_ends_at: datetime | None = None

    def ends_at(self, idle: timedelta, seen: datetime | None = None) -> datetime:
        last = max(d for d in (self.last_seen_at, seen) if d is not None)
        return min(last + idle, self.lifetime_ends_at or last + idle)


async def create(
    db: AsyncSession, *, user: User, now: datetime, policy: SessionPolicy, client_addr: str,
    mfa_pending: bool = False, amr: tuple[str, ...] = ("pwd",),
    lifetime: timedelta | None = None,
) -> tuple[str, AuthSession]:
    """A new session for `user`. A pending one (`mfa_pending`) is given a short
    `lifetime`: it exists only to finish the second factor."""
    token = new_token()
    row = AuthSession(
        token_hash=hash_token(token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user.id or 0,
        created_at=now,
        last_seen_at=now,
        expires_at=now + min(policy.lifetime, lifetime or policy.lifetime),
        client_addr=client_addr[:64],
        mfa_pending=mfa_pending,
        amr=" ".join(amr),
    )
    db.add(row)
    await db.flush()
    return token, row


# Built once: it runs on every request.
_RESOLVE: Any = (
    select(col(AuthSession.id), col(AuthSession.csrf_token), col(AuthSession.last_seen_at),
           col(AuthSession.expires_at), col(AuthSession.revoked_at),
           col(User.id).label("user_id"), col(User.role), col(User.active), col(User.email),
           col(User.name), col(UserSpecialty.specialty), col(User.must_change_password),
           col(DelegateLink.gp_id).label("acts_for"), col(AuthSession.mfa_pending),
           col(AuthSession.amr))
    .join(User, col(User.id) == col(AuthSession.user_id))
    .outerjoin(UserSpecialty, col(UserSpecialty.user_id) == col(User.id))
    # A delegate's GPs, by the link table's primary key (a specialist has none, so the
    # two outer joins never multiply each other's rows in practice).
    .outerjoin(DelegateLink, col(DelegateLink.delegate_id) == col(User.id))
    .where(col(AuthSession.token_hash) == bindparam("token_hash"))
)


async def resolve(
    db: Database, token: str, *, now: datetime, policy: SessionPolicy,
    seen: Mapping[int, datetime] | None = None,
) -> ActiveSession | None:
    """The live session for a cookie token, or None (unknown, revoked, idle, expired,
    or the account disabled). One query: the session, its user, the user's
    specialties and a delegate's GPs (a row each). `seen` holds activity this process
    noticed but may not have written yet."""
    if not token or len(token) > 128:
        return None
    rows = await db.fetch(_RESOLVE, {"token_hash": hash_token(token)})
    if not rows:
        return None
    auth = rows[0]
    stored = auth.last_seen_at
    last_seen = max(stored, (seen or {}).get(auth.id, stored))
    if (
        auth.revoked_at is not None
        or not auth.active
        or now >= auth.expires_at
        or now - last_seen >= policy.idle
    ):
        return None
    specialties: frozenset[str] = frozenset()
    if auth.role == Role.specialist:
        specialties = frozenset(r.specialty for r in rows if r.specialty is not None)
    acts_for: frozenset[int] = frozenset()
    if auth.role == Role.delegate:
        acts_for = frozenset(r.acts_for for r in rows if r.acts_for is not None)
    principal = Principal(
        id=auth.user_id, role=auth.role, active=auth.active, specialties=specialties,
        email=auth.email, name=auth.name, acts_for=acts_for,
    )
    return ActiveSession(
        session_id=auth.id,
        csrf_token=auth.csrf_token,
        principal=principal,
        # By the stored time: activity only remembered in memory is written once it is
        # a minute ahead of what the database holds (sooner for a short idle timeout, a
        # test's minute, so the database alone would still hold it).
        needs_touch=now - stored >= min(TOUCH_EVERY, policy.idle / 4),
        expires_at=min(auth.expires_at, now + policy.idle),
        must_change_password=bool(auth.must_change_password),
        mfa_pending=bool(auth.mfa_pending),
        amr=tuple(str(auth.amr or "").split()),
        last_seen_at=last_seen,
        lifetime_ends_at=auth.expires_at,
    )


async def touch(db: AsyncSession, session_id: int, *, now: datetime) -> None:
    await db.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None),
               # Only ever forward: writes that finish out of order never rewind it.
               col(AuthSession.last_seen_at) < now)
        .values(last_seen_at=now)
    )


async def revoke(db: AsyncSession, session_id: int, *, now: datetime) -> None:
    await db.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def revoke_all(db: AsyncSession, user_id: int, *, now: datetime) -> int:
    result = await db.execute(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
