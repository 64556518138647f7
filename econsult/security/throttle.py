"""Login throttling per account and per client address.

Failures live in the database so every worker sees the same count. An address gets
a larger allowance than an account because clinics share one public address.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import LoginFailure

ADDRESS_FACTOR = 4


def account_key(email: str) -> str:
    # Hashed so that the table does not become a list of who tried to log in.
    return "acct:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:40]


def address_key(addr: str) -> str:
    return "addr:" + addr[:64]


async def retry_after(
    db: AsyncSession, *, email: str, addr: str, now: datetime, limit: int, window: timedelta
) -> int | None:
    """Seconds until another attempt is allowed, or None if one is allowed now."""
    since = now - window
    rows = (
        await db.execute(
            select(col(LoginFailure.key), func.count(), func.min(col(LoginFailure.at)))
            .where(col(LoginFailure.key).in_([account_key(email), address_key(addr)]))
            .where(col(LoginFailure.at) > since)
            .group_by(LoginFailure.key)
        )
    ).all()
    waits = []
    for key, count, oldest in rows:
        allowed = limit * ADDRESS_FACTOR if key.startswith("addr:") else limit
        if count >= allowed:
            waits.append(int((oldest + window - now).total_seconds()) + 1)
    return max(waits) if waits else None


async def record_failure(db: AsyncSession, *, email: str, addr: str, now: datetime) -> None:
    db.add(LoginFailure(key=account_key(email), at=now))
    db.add(LoginFailure(key=address_key(addr), at=now))


async def clear_account(db: AsyncSession, *, email: str, now: datetime,
                        window: timedelta) -> None:
    """A successful login wipes the account's failures and prunes stale rows."""
    await db.execute(delete(LoginFailure).where(col(LoginFailure.key) == account_key(email)))
    await db.execute(delete(LoginFailure).where(col(LoginFailure.at) < now - window))
