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

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import AuthSession, User, UserSpecialty
from econsult.security.policy import Principal

# Refreshing last_seen_at is a database write; doing it at most once a minute keeps
# reads cheap while the idle timeout stays accurate to the minute.
_TOUCH_EVERY = timedelta(seconds=60)


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


async def create(
    db: AsyncSession, *, user: User, now: datetime, policy: SessionPolicy, client_addr: str
) -> tuple[str, AuthSession]:
    token = new_token()
    row = AuthSession(
        token_hash=hash_token(token),
        csrf_token=secrets.token_urlsafe(32),
        user_id=user.id or 0,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
        client_addr=client_addr[:64],
    )
    db.add(row)
    await db.flush()
    return token, row


async def resolve(
    db: AsyncSession, token: str, *, now: datetime, policy: SessionPolicy,
    seen: Mapping[int, datetime] | None = None,
) -> ActiveSession | None:
    """The live session for a cookie token, or None (unknown, revoked, idle, expired,
    or the account disabled). One query for the session and user, one for specialties.
    `seen` holds activity this process noticed but may not have written yet."""
    if not token or len(token) > 128:
        return None
    row = (
        await db.execute(
            select(AuthSession, User)
            .join(User, col(User.id) == col(AuthSession.user_id))
            .where(col(AuthSession.token_hash) == hash_token(token))
        )
    ).one_or_none()
    if row is None:
        return None
    auth, user = row
    last_seen = max(auth.last_seen_at, (seen or {}).get(auth.id or 0, auth.last_seen_at))
    if (
        auth.revoked_at is not None
        or not user.active
        or now >= auth.expires_at
        or now - last_seen >= policy.idle
    ):
        return None
    specialties: frozenset[str] = frozenset()
    if user.role == "specialist":
        specialties = frozenset(
            (await db.execute(
                select(col(UserSpecialty.specialty)).where(col(UserSpecialty.user_id) == user.id)
            )).scalars()
        )
    principal = Principal(
        id=user.id or 0, role=user.role, active=user.active, specialties=specialties,
        email=user.email, name=user.name,
    )
    return ActiveSession(
        session_id=auth.id or 0,
        csrf_token=auth.csrf_token,
        principal=principal,
        needs_touch=now - last_seen >= _TOUCH_EVERY,
        expires_at=min(auth.expires_at, now + policy.idle),
    )


async def touch(db: AsyncSession, session_id: int, *, now: datetime) -> None:
    await db.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
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
