"""Delegates: clinic staff an admin links to the GPs they work for.

A link lets the delegate see the GP's consults, reply on them and submit new ones on
the GP's behalf (the rules are `security/policy.py`'s; the links reach it as
`Principal.acts_for`, loaded with the session). Links are made when the delegate is
created (`econsult user add --role delegate --delegate-for GP_EMAIL ...`, the add form
on /admin/users) and changed on /admin/users; every link and unlink is audited, in
the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from econsult.clock import Clock
from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.models import DelegateLink, Role, User
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require

MAX_GPS = 50  # a clinic's GPs; far more is a typo, not a clinic


@dataclass(frozen=True, slots=True)
class GpRef:
    id: int
    email: str
    name: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class DelegateLinks:
    """The admin page's picture: every GP, and which GPs each delegate works for."""

    gps: list[GpRef]
    links: dict[int, list[int]]  # delegate id -> GP ids, sorted


def check_role(role: Role, delegate_for: Sequence[str]) -> None:
    """Before any work on a new account: only a delegate works for GPs, and a delegate
    works for at least one (without one they could do nothing at all)."""
    if role is Role.delegate and not delegate_for:
        raise InvalidInput("A delegate works for at least one GP: name them.",
                           field="delegate_for")
    if role is not Role.delegate and delegate_for:
        raise InvalidInput("Only delegates work for GPs.", field="delegate_for")
    if len(delegate_for) > MAX_GPS:
        raise InvalidInput(f"A delegate works for at most {MAX_GPS} GPs.", field="delegate_for")


async def link_new_delegate(db: AsyncSession, *, delegate: User, gp_emails: Sequence[str],
                            actor: Actor, now: datetime) -> list[GpRef]:
    """Link a delegate being created to GPs named by email, inside the caller's write
    transaction (so a bad email leaves no account behind)."""
    wanted = sorted({e.strip().lower() for e in gp_emails if e.strip()})
    rows = (await db.execute(select(User).where(col(User.email).in_(wanted)))).scalars()
    found = {u.email: u for u in rows if u.role == Role.gp}
    missing = [e for e in wanted if e not in found]
    if missing:
        raise InvalidInput(f"No GP account with the email {', '.join(missing)}.",
                           field="delegate_for")
    gps = [found[e] for e in wanted]
    await _link(db, delegate.id or 0, [g.id or 0 for g in gps], actor, now)
    return [_ref(g) for g in gps]


async def set_links(database: Database, *, delegate_id: int, gp_ids: Sequence[int],
                    actor: Actor, clock: Clock, by: Principal) -> list[int]:
    """Make the delegate's GPs exactly `gp_ids` (the admin page's checkboxes); returns
    them. Each added and removed link is its own audit entry."""
    require(by, Action.manage_users)
    wanted = set(gp_ids)
    if len(wanted) > MAX_GPS:
        raise InvalidInput(f"A delegate works for at most {MAX_GPS} GPs.", field="gp")
    now = clock.now()
    async with database.write() as db:
        delegate = await db.get(User, delegate_id)
        if delegate is None or delegate.role != Role.delegate:
            raise NotFound("No such delegate.")
        gps = set((await db.execute(select(col(User.id)).where(
            col(User.id).in_(sorted(wanted)), col(User.role) == Role.gp.value))).scalars())
        if wanted - gps:
            raise InvalidInput("Choose GPs from the list.", field="gp")
        current = set((await db.execute(select(col(DelegateLink.gp_id)).where(
            col(DelegateLink.delegate_id) == delegate_id))).scalars())
        await _link(db, delegate_id, sorted(wanted - current), actor, now)
        for gp_id in sorted(current - wanted):
            await db.execute(delete(DelegateLink).where(
                col(DelegateLink.delegate_id) == delegate_id, col(DelegateLink.gp_id) == gp_id))
            await audit.append(db, actor=actor, action="delegate.unlink", at=now,
                               object_type="user", object_id=str(delegate_id),
                               detail=f"gp={gp_id}")
    return sorted(wanted)


async def _link(db: AsyncSession, delegate_id: int, gp_ids: Sequence[int], actor: Actor,
                now: datetime) -> None:
    for gp_id in gp_ids:
        db.add(DelegateLink(delegate_id=delegate_id, gp_id=gp_id, created_at=now))
        await audit.append(db, actor=actor, action="delegate.link", at=now,
                           object_type="user", object_id=str(delegate_id), detail=f"gp={gp_id}")
    await db.flush()


async def links_for_admin(database: Database, by: Principal) -> DelegateLinks:
    require(by, Action.manage_users)
    async with database.read() as db:
        gps = (await db.execute(select(User).where(col(User.role) == Role.gp.value)
                                .order_by(col(User.name), col(User.id)))).scalars().all()
        links: dict[int, list[int]] = {}
        for link in (await db.execute(select(DelegateLink).order_by(
                col(DelegateLink.delegate_id), col(DelegateLink.gp_id)))).scalars():
            links.setdefault(link.delegate_id, []).append(link.gp_id)
    return DelegateLinks(gps=[_ref(g) for g in gps], links=links)


async def gps_of(database: Database, user: Principal) -> list[GpRef]:
    """The GPs `user` acts for, by name (a delegate's; nobody's for anyone else). The
    new-consult form offers the active ones; lists name all of them."""
    if not user.acts_for:
        return []
    async with database.read() as db:
        rows = (await db.execute(select(User).where(col(User.id).in_(sorted(user.acts_for)))
                                 .order_by(col(User.name), col(User.id)))).scalars()
        return [_ref(u) for u in rows]


def _ref(user: User) -> GpRef:
    return GpRef(id=user.id or 0, email=user.email, name=user.name, active=user.active)
