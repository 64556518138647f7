"""Test data in one place: users and the personas every access test needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher

from econsult.accounts.login import session_policy
from econsult.clock import Clock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import DelegateLink, Role, User, UserSpecialty
from econsult.security import sessions
from econsult.security.passwords import Passwords

PASSWORD = "test-password-for-personas"
# argon2 at production cost is ~0.1 s a hash; tests log in hundreds of times. The
# parameters differ, the code path is the same (test_passwords covers the real ones).
CHEAP_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@cache
def password_hash() -> str:
    # argon2 costs ~0.1 s a hash: hash the shared test password once per run.
    return CHEAP_PASSWORDS.hash(PASSWORD)


async def make_user(
    db: Database, clock: Clock, *, email: str, name: str, role: Role,
    specialties: tuple[str, ...] = (), active: bool = True,
) -> User:
    async with db.write() as session:
        user = User(email=email, name=name, role=role, password_hash=password_hash(),
                    active=active, created_at=clock.now())
        session.add(user)
        await session.flush()
        for slug in specialties:
            session.add(UserSpecialty(user_id=user.id or 0, specialty=slug))
    return user


async def make_delegate(db: Database, clock: Clock, *, email: str, name: str,
                        gps: tuple[User, ...], active: bool = True) -> User:
    """Clinic staff linked to `gps` (as an admin would link them)."""
    user = await make_user(db, clock, email=email, name=name, role=Role.delegate,
                           active=active)
    async with db.write() as session:
        for gp in gps:
            session.add(DelegateLink(delegate_id=user.id or 0, gp_id=gp.id or 0,
                                     created_at=clock.now()))
    return user


@dataclass
class Personas:
    gp: User  # owns the consults in tests
    other_gp: User
    derm: User  # dermatology specialist (primary on call in routing tests)
    derm2: User  # second dermatology specialist (backup)
    cardio: User  # a specialist of another specialty
    staff: User
    admin: User

    def all(self) -> dict[str, User]:
        return dict(vars(self))


async def make_personas(db: Database, clock: Clock) -> Personas:
    return Personas(
        gp=await make_user(db, clock, email="gp@example.org", name="Dr Gail Parker",
                           role=Role.gp),
        other_gp=await make_user(db, clock, email="gp2@example.org", name="Dr Omar Grant",
                                 role=Role.gp),
        derm=await make_user(db, clock, email="derm1@example.org", name="Dr Dana Ermine",
                             role=Role.specialist, specialties=("dermatology",)),
        derm2=await make_user(db, clock, email="derm2@example.org", name="Dr Derek Moss",
                              role=Role.specialist, specialties=("dermatology",)),
        cardio=await make_user(db, clock, email="cardio@example.org", name="Dr Carla Dio",
                               role=Role.specialist, specialties=("cardiology",)),
        staff=await make_user(db, clock, email="staff@example.org", name="Sam Staff",
                              role=Role.staff),
        admin=await make_user(db, clock, email="admin@example.org", name="Ada Admin",
                              role=Role.admin),
    )


async def session_for(db: Database, user: User, clock: Clock,
                      settings: Settings) -> tuple[str, str]:
    """A logged-in session without paying for argon2: (cookie token, CSRF token)."""
    async with db.write() as session:
        token, row = await sessions.create(session, user=user, now=clock.now(),
                                           policy=session_policy(settings),
                                           client_addr="127.0.0.1")
    return token, row.csrf_token
