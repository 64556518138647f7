"""People as an admin manages them: find them (search, role), see their last login and
live sessions, end a session. A user's own sessions (on /account) come from here too.

"Last login" is when the user's newest session was opened: every login opens one, and
sessions are revoked, never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.accounts.users import public, specialties_of
from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.models import AuthSession, Role, User, UserPublic, UserSpecialty
from econsult.models.types import UTCDateTime
from econsult.security import audit, sessions
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

LIMIT = 200


@dataclass(frozen=True)
class PersonRow:
    user: UserPublic
    last_login_at: datetime | None
    live_sessions: int
    must_change_password: bool
    open_cap: int | None


@dataclass(frozen=True)
class SessionRow:
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client_addr: str
    current: bool = False
    # How it was authenticated ("pwd otp", ...), and whether the second step is owed:
    # a pending session the person did not open means someone else has their password.
    amr: str = "pwd"
    mfa_pending: bool = False


def _live(now: datetime, policy: sessions.SessionPolicy) -> list[ColumnElement[bool]]:
    return [col(AuthSession.revoked_at).is_(None), col(AuthSession.expires_at) > now,
            col(AuthSession.last_seen_at) > now - policy.idle]


async def directory(database: Database, by: Principal, *, q: str = "", role: str = "",
                    now: datetime, policy: sessions.SessionPolicy) -> list[PersonRow]:
    """Accounts matching `q` (in the name or email) and `role`, by role then name."""
    require(by, Action.manage_users)
    if role and role not in Role.__members__:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}.",
                           field="role")
    query = select(User)
    text = " ".join(q.split())[:100].lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(col(User.name)).like(pattern, escape="\\"),
                                col(User.email).like(pattern, escape="\\")))
    if role:
        query = query.where(col(User.role) == role)
    async with database.read() as db:
        users = list((await db.execute(query.order_by(col(User.role), col(User.name))
                                       .limit(LIMIT))).scalars())
        ids = [u.id for u in users if u.id is not None]
        held: dict[int, list[str]] = {}
        for uid, slug in (await db.execute(
                select(col(UserSpecialty.user_id), col(UserSpecialty.specialty))
                .where(col(UserSpecialty.user_id).in_(ids)))).all():
            held.setdefault(uid, []).append(slug)
        logins = dict((await db.execute(
            select(col(AuthSession.user_id), func.max(col(AuthSession.created_at)))
            .where(col(AuthSession.user_id).in_(ids)).group_by(col(AuthSession.user_id))
        )).all())
        live = dict((await db.execute(
            select(col(AuthSession.user_id), func.count())
            .where(col(AuthSession.user_id).in_(ids), *_live(now, policy))
            .group_by(col(AuthSession.user_id)))).all())
    return [PersonRow(public(u, sorted(held.get(u.id or 0, []))),
                      _aware(logins.get(u.id or 0)), int(live.get(u.id or 0, 0)),
                      u.must_change_password, u.open_cap)
            for u in users]


async def person(database: Database, by: Principal, user_id: int, *, now: datetime,
                 policy: sessions.SessionPolicy) -> tuple[PersonRow, list[SessionRow]]:
    """One account as the admin's page shows it, with its live sessions."""
    require(by, Action.manage_users)
    async with database.read() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        found = await _sessions(db, user_id, now, policy)
        last = (await db.execute(select(func.max(col(AuthSession.created_at))).where(
            col(AuthSession.user_id) == user_id))).scalar()
        row = PersonRow(public(user, await specialties_of(db, user_id)), _aware(last),
                        len(found), user.must_change_password, user.open_cap)
    return row, found


async def _sessions(db: AsyncSession, user_id: int, now: datetime,
                    policy: sessions.SessionPolicy) -> list[SessionRow]:
    rows = (await db.execute(select(AuthSession).where(
        col(AuthSession.user_id) == user_id, *_live(now, policy))
        .order_by(col(AuthSession.last_seen_at).desc()))).scalars()
    return [SessionRow(r.id or 0, r.created_at, r.last_seen_at, r.expires_at, r.client_addr,
                       amr=r.amr, mfa_pending=r.mfa_pending)
            for r in rows]


async def my_sessions(database: Database, user: Principal, *, now: datetime,
                      policy: sessions.SessionPolicy, current: int) -> list[SessionRow]:
    require(user, Action.own_account)
    async with database.read() as db:
        found = await _sessions(db, user.id, now, policy)
    return [SessionRow(s.id, s.created_at, s.last_seen_at, s.expires_at, s.client_addr,
                       s.id == current, s.amr, s.mfa_pending) for s in found]


async def revoke_session(database: Database, clock: Clock, by: Principal, *, user_id: int,
                         session_id: int, actor: Actor) -> None:
    """End one session of `user_id`: an admin for anyone, anyone for themselves."""
    if user_id == by.id:
        require(by, Action.own_account)
    else:
        require(by, Action.manage_users)
    now = clock.now()
    async with database.write() as db:
        ended = await db.execute(
            update(AuthSession).where(col(AuthSession.id) == session_id,
                                      col(AuthSession.user_id) == user_id,
                                      col(AuthSession.revoked_at).is_(None))
            .values(revoked_at=now).execution_options(synchronize_session=False))
        if getattr(ended, "rowcount", 0) != 1:
            raise NotFound("No such session.")
        await audit.append(db, actor=actor, action="session.revoke", at=now,
                           object_type="session", object_id=str(session_id),
                           detail=f"user={user_id}")


def _aware(value: object) -> datetime | None:
    """func.max() loses the column type on SQLite."""
    if value is None:
        return None
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
