"""Login and second-factor throttling, after NIST SP 800-63B section 5.2.2.

The aim is two-sided: guessing must be slow, and nobody without the password may use
the throttle to lock a person out (an attacker typing the on-call specialist's email
at the login page must not end that specialist's shift). So failures are counted per
key, and each key is checked only where it cannot be turned into a weapon:

- `pair`: this account from this address. The main limit (`limit` failures in the
  window); it is what a guesser at one address runs into, and it stops only them.
- `addr`: this address, any account: stops spraying many accounts from one place.
  Four times larger, because a clinic shares one public address.
- `acct`: this account from anywhere: NIST's ceiling of 100 consecutive failures,
  against guessing spread over many addresses. It is not applied to an address the
  person has completed a login from recently (the caller says so: `known_address`),
  so a distributed attack slows strangers, never the legitimate user at their desk.
- `mfa`: second-factor failures, the same way: per account and address (`limit`),
  and per account from anywhere (four times that) except from a known address.
  Reaching the second factor needs the password, so none of this can be set off by
  someone without it; and even someone with it, guessing codes from elsewhere, does
  not lock the person out of their own second step at their desk.

A key over its limit within the window is blocked from its last failure for the
window, doubled for each further time the limit was reached within a day (backoff),
at most a day. Failures live in the database so every worker sees the same count; a
success clears the pair's and the account's failures (they count consecutive
failures), never the address's (an attacker's own account must not reset it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.models import LoginFailure

ADDRESS_FACTOR = 4
# NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account.
ACCOUNT_CEILING = 100
# Failures are remembered this long, for the backoff; the longest block, too.
HORIZON = timedelta(hours=24)


def _hash(text: str) -> str:
    # Hashed so that the table does not become a list of who tried to log in.
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return "acct:" + _hash(_email(email))


def address_key(addr: str) -> str:
    return "addr:" + addr[:64]


def pair_key(email: str, addr: str) -> str:
    return "pair:" + _hash(_email(email) + "\x00" + addr[:64])


def mfa_key(user_id: int) -> str:
    return f"mfa:{user_id}"


def mfa_pair_key(user_id: int, addr: str) -> str:
    return f"mfa:{user_id}:" + _hash(addr[:64])


@dataclass(frozen=True)
class Limit:
    key: str
    allowed: int
    # Count the failures of the whole horizon against `allowed` (consecutive failures,
    # NIST's ceiling), rather than those of the last window (a burst).
    over_horizon: bool = False


def _wait(limit: Limit, *, in_window: int, in_horizon: int, latest: datetime,
          now: datetime, window: timedelta) -> int | None:
    counted = in_horizon if limit.over_horizon else in_window
    if counted < limit.allowed:
        return None
    # 0 the first time the limit is reached in the horizon, 1 the second, ...
    level = max(0, in_horizon // limit.allowed - 1)
    period = min(window * (2 ** min(level, 16)), HORIZON)
    seconds = (latest + period - now).total_seconds()
    return int(seconds) + 1 if seconds > 0 else None


async def _retry_after(db: AsyncSession, limits: list[Limit], *, now: datetime,
                       window: timedelta) -> int | None:
    by_key = {limit.key: limit for limit in limits}
    in_window = func.sum(case((col(LoginFailure.at) > now - window, 1), else_=0))
    rows = (
        await db.execute(
            select(col(LoginFailure.key), in_window, func.count(), func.max(col(LoginFailure.at)))
            .where(and_(col(LoginFailure.key).in_(list(by_key)),
                        col(LoginFailure.at) > now - HORIZON))
            .group_by(col(LoginFailure.key))
        )
    ).all()
    waits = [w for key, recent, total, latest in rows
             if (w := _wait(by_key[key], in_window=int(recent or 0), in_horizon=int(total),
                            latest=latest, now=now, window=window)) is not None]
    return max(waits) if waits else None


async def retry_after(
    db: AsyncSession, *, email: str, addr: str, now: datetime, limit: int, window: timedelta,
    known_address: bool = False,
) -> int | None:
    """Seconds until a password attempt for `email` from `addr` is allowed, or None if
    one is allowed now. `known_address`: the account completed a login from `addr`
    recently, so the account-wide ceiling does not apply to it."""
    limits = [Limit(pair_key(email, addr), limit),
              Limit(address_key(addr), limit * ADDRESS_FACTOR)]
    if not known_address:
        limits.append(Limit(account_key(email), ACCOUNT_CEILING, over_horizon=True))
    return await _retry_after(db, limits, now=now, window=window)


async def record_failure(db: AsyncSession, *, email: str, addr: str, now: datetime) -> None:
    for key in (pair_key(email, addr), address_key(addr), account_key(email)):
        db.add(LoginFailure(key=key, at=now))


async def clear_account(db: AsyncSession, *, email: str, addr: str, now: datetime) -> None:
    """A successful login wipes this account's consecutive failures (from this address
    and overall) and prunes rows past the horizon."""
    await db.execute(delete(LoginFailure).where(
        col(LoginFailure.key).in_([account_key(email), pair_key(email, addr)])))
    await db.execute(delete(LoginFailure).where(col(LoginFailure.at) < now - HORIZON))


async def mfa_retry_after(db: AsyncSession, *, user_id: int, addr: str, now: datetime,
                          limit: int, window: timedelta,
                          known_address: bool = False) -> int | None:
    """Seconds until another second-factor attempt is allowed for this account from
    `addr`, or None if one is allowed now."""
    limits = [Limit(mfa_pair_key(user_id, addr), limit)]
    if not known_address:
        limits.append(Limit(mfa_key(user_id), limit * ADDRESS_FACTOR))
    return await _retry_after(db, limits, now=now, window=window)


async def record_mfa_failure(db: AsyncSession, *, user_id: int, addr: str,
                             now: datetime) -> None:
    db.add(LoginFailure(key=mfa_pair_key(user_id, addr), at=now))
    db.add(LoginFailure(key=mfa_key(user_id), at=now))


async def clear_mfa(db: AsyncSession, *, user_id: int, addr: str | None = None) -> None:
    """After a success from `addr`: that address's and the account's consecutive
    failures go (None: every address's, as an administrator's reset does)."""
    keys = [mfa_key(user_id)]
    if addr is not None:
        keys.append(mfa_pair_key(user_id, addr))
        await db.execute(delete(LoginFailure).where(col(LoginFailure.key).in_(keys)))
    else:
        await db.execute(delete(LoginFailure).where(
            (col(LoginFailure.key) == mfa_key(user_id))
            | col(LoginFailure.key).startswith(mfa_key(user_id) + ":")))
