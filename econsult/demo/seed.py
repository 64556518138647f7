"""`econsult demo`: a working program to click through, from an empty data directory.

Migrates, installs the catalogue, adds demo accounts (all with one demo password,
printed), an on-call rota for every specialty that has specialists, and historical
consults with realistic turnaround. Running it again keeps what is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from sqlalchemy import func, select
from sqlmodel import col

from econsult.accounts import signatory
from econsult.accounts import users as accounts
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import Consult, Role, RotaWeekly, User
from econsult.ops.migrate import migrate
from econsult.security.audit import Actor
from econsult.security.passwords import Passwords

# Demo only: a known password so a newcomer can log in as anyone. Real accounts are
# created with `econsult user add --password-stdin` or on /admin/users.
DEMO_PASSWORD = "econsult-demo-2026"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    specialties: tuple[str, ...] = ()
    delegate_for: tuple[str, ...] = ()  # a delegate's GPs (listed above them)


DEMO_USERS = (
    DemoUser("gp@demo.econsult.org", "Dr Gail Parker", "gp"),
    DemoUser("gp2@demo.econsult.org", "Dr Omar Grant", "gp"),
    DemoUser("gp3@demo.econsult.org", "Dr Priya Nair", "gp"),
    # Clinic staff at Dr Parker's practice: sends and follows up consults for her.
    DemoUser("clinic@demo.econsult.org", "Dee Lewis", "delegate",
             delegate_for=("gp@demo.econsult.org",)),
    DemoUser("derm1@demo.econsult.org", "Dr Dana Ermine", "specialist", ("dermatology",)),
    DemoUser("derm2@demo.econsult.org", "Dr Derek Moss", "specialist", ("dermatology",)),
    DemoUser("cardio1@demo.econsult.org", "Dr Carla Dio", "specialist", ("cardiology",)),
    DemoUser("cardio2@demo.econsult.org", "Dr Hugo Hart", "specialist", ("cardiology",)),
    DemoUser("endo1@demo.econsult.org", "Dr Ines Endo", "specialist", ("endocrinology",)),
    DemoUser("psych1@demo.econsult.org", "Dr Paul Sykes", "specialist", ("psychiatry",)),
    DemoUser("neuro1@demo.econsult.org", "Dr Nora Ng", "specialist", ("neurology",)),
    DemoUser("gi1@demo.econsult.org", "Dr Gus Ito", "specialist", ("gastroenterology",)),
    DemoUser("staff@demo.econsult.org", "Sam Staff", "staff"),
    DemoUser("admin@demo.econsult.org", "Ada Admin", "admin"),
)


async def seed_users(db: Database, passwords: Passwords | None = None) -> dict[str, int]:
    """Create the demo accounts that do not exist yet; returns email -> id."""
    clock = SystemClock()
    passwords = passwords or Passwords()
    async with db.read() as session:
        existing = {u.email: u.id for u in (await session.execute(select(User))).scalars()}
    for person in DEMO_USERS:
        if person.email not in existing:
            created = await accounts.create_user(
                db, email=person.email, name=person.name, role=person.role,
                password=DEMO_PASSWORD, specialties=list(person.specialties),
                actor=Actor(None, "demo"), clock=clock, passwords=passwords, by=None,
                delegate_for=person.delegate_for)
            existing[person.email] = created.id
            if person.role == "specialist":  # demo signatures (issue 16), made-up numbers
                await signatory.set_signatory(
                    db, clock, None, user_id=created.id, credentials="MD, FRCPC",
                    registration=f"DEMO-{10000 + created.id}", actor=Actor(None, "demo"))
    return {k: v for k, v in existing.items() if v is not None}


async def seed_rota(db: Database) -> int:
    """Every weekday 08:00-17:00 the first specialist of a specialty is primary and the
    second backup; evenings and weekends the first covers alone (so escalation and the
    pool both show). Skipped if the rota already has entries."""
    now = SystemClock().now()
    async with db.write() as session:
        if (await session.execute(select(func.count()).select_from(RotaWeekly))).scalar():
            return 0
        by_specialty: dict[str, list[int]] = {}
        for person in DEMO_USERS:
            if person.role != Role.specialist:
                continue
            user_id = int((await session.execute(select(col(User.id)).where(
                col(User.email) == person.email))).scalar_one() or 0)
            for slug in person.specialties:
                by_specialty.setdefault(slug, []).append(user_id)
        added = 0
        for slug, people in by_specialty.items():
            for weekday in range(7):
                shifts = []
                if weekday < 5:
                    shifts.append((people[0], time(8), time(17), "primary"))
                    if len(people) > 1:
                        shifts.append((people[1], time(8), time(17), "backup"))
                    shifts.append((people[0], time(17), time(22), "primary"))
                else:
                    shifts.append((people[-1], time(9), time(17), "primary"))
                for specialist, start, end, tier in shifts:
                    session.add(RotaWeekly(specialty=slug, specialist_id=specialist,
                                           weekday=weekday, start=start, end=end, tier=tier,
                                           created_at=now))
                    added += 1
    return added


async def consult_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(Consult))).scalar()
                   or 0)


async def prepare(settings: Settings, *, consults: int,
                  passwords: Passwords | None = None) -> list[str]:
    """Everything but serving; returns the lines to print. (Tests pass cheap
    `passwords`: the demo's are hashed at full argon2 cost.)"""
    created, _ = await migrate(settings)
    db = Database.from_settings(settings)
    lines = []
    try:
        ids = await seed_users(db, passwords)
        rota = await seed_rota(db)
        have = await consult_count(db)
        if consults and have == 0:
            from econsult.demo.history import generate_for_demo

            made = await generate_for_demo(db, settings, n=consults, users=ids)
            lines.append(f"generated {made} historical consults")
            from econsult.demo.live import seed_in_flight

            in_flight = await seed_in_flight(db, settings, ids)
            lines.append(f"sent {in_flight} consults in flight now (see the staff work list)")
        elif have:
            lines.append(f"kept the {have} consults already in {settings.data_dir}")
    finally:
        await db.dispose()
    if created:
        lines.append(f"created key file {settings.key_file}")
    if rota:
        lines.append(f"added {rota} weekly rota entries")
    lines.append("")
    lines.append(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for person in DEMO_USERS:
        extra = f" [{', '.join(person.specialties)}]" if person.specialties else ""
        extra += f" (for {', '.join(person.delegate_for)})" if person.delegate_for else ""
        lines.append(f"  {person.role:<10} {person.email}{extra}")
    return lines
