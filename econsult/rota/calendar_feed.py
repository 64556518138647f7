"""A specialist's own on-call calendar as an iCalendar feed at a secret address.

The address carries a random token; only its SHA-256 is stored, so the full address
is shown once, when made, and making a new one ends the old. The feed holds on-call
stretches and the specialist's absences: specialty, tier and times, never anything
about a consult or a patient.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import delete, select
from sqlmodel import col

from econsult.clock import Clock
from econsult.consults.routing_io import on_call_intervals
from econsult.db import Database
from econsult.models import CalendarFeed, Role, RotaAbsence, Specialty, User, UserSpecialty
from econsult.security import audit
from econsult.security.audit import Actor
from econsult.security.policy import Action, Principal, require
from econsult.security.sessions import hash_token

PAST = timedelta(days=7)
AHEAD = timedelta(days=56)


async def make_feed(database: Database, clock: Clock, user: Principal, *,
                    actor: Actor) -> str:
    """A new secret token for the user's feed (any old address stops working)."""
    require(user, Action.own_calendar)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    async with database.write() as db:
        await db.execute(delete(CalendarFeed).where(col(CalendarFeed.user_id) == user.id))
        db.add(CalendarFeed(user_id=user.id, token_hash=hash_token(token), created_at=now))
        await audit.append(db, actor=actor, action="calendar.feed.create", at=now,
                           object_type="user", object_id=str(user.id))
    return token


async def feed_made_at(database: Database, user: Principal) -> datetime | None:
    require(user, Action.own_calendar)
    async with database.read() as db:
        feed = await db.get(CalendarFeed, user.id)
    return feed.created_at if feed else None


async def feed_ics(database: Database, clock: Clock, tz: ZoneInfo, token: str) -> bytes | None:
    """The calendar for a token, or None (unknown token, or the account may not have
    one any more): the caller answers 404 either way."""
    if not token or len(token) > 128:
        return None
    now = clock.now()
    start, end = now - PAST, now + AHEAD
    async with database.read() as db:
        feed = (await db.execute(select(CalendarFeed).where(
            col(CalendarFeed.token_hash) == hash_token(token)))).scalar_one_or_none()
        user = await db.get(User, feed.user_id) if feed else None
        if user is None or user.id is None or not user.active or user.role != Role.specialist:
            return None
        names = dict((await db.execute(
            select(col(Specialty.slug), col(Specialty.name))
            .join(UserSpecialty, col(UserSpecialty.specialty) == col(Specialty.slug))
            .where(col(UserSpecialty.user_id) == user.id))).all())
        stretches = []
        for slug in sorted(names):
            stretches += [(slug, iv) for iv in await on_call_intervals(db, slug, start, end, tz)
                          if iv.specialist_id == user.id]
        away = list((await db.execute(select(RotaAbsence).where(
            col(RotaAbsence.specialist_id) == user.id, col(RotaAbsence.ends_at) > start,
            col(RotaAbsence.starts_at) < end))).scalars())
    cal = Calendar()
    cal.add("prodid", "-//econsult//on-call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "econsult on call")
    cal.add("x-wr-timezone", str(tz))
    for slug, iv in stretches:
        cal.add_component(_event(
            f"oncall-{user.id}-{slug}-{iv.tier.value}-{int(iv.starts_at_utc.timestamp())}",
            f"On call: {names[slug]} ({iv.tier.value})", iv.starts_at_utc, iv.ends_at_utc, now))
    for absence in away:
        cal.add_component(_event(f"away-{user.id}-{absence.id}", "Away (off call)",
                                 absence.starts_at, absence.ends_at, now))
    return bytes(cal.to_ical())


def _event(uid: str, summary: str, start: datetime, end: datetime, now: datetime) -> Event:
    event = Event()
    event.add("uid", f"{uid}@econsult")
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("dtstamp", now)
    event.add("transp", "OPAQUE")
    return event
