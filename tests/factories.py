"""Test data in one place: users and the personas every access test needs, a valid
consult submission, on-call shifts, and the small builders the routing tests share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any, TypedDict, Unpack, cast

import httpx
from argon2 import PasswordHasher

from econsult.accounts.login import session_policy
from econsult.clock import Clock, zone
from econsult.config import Settings
from econsult.db import Database
from econsult.models import DelegateLink, Role, RotaShift, User, UserSpecialty
from econsult.routing.decision import SpecialistState
from econsult.routing.rota import OnCallInterval, Source, Tier
from econsult.security import sessions
from econsult.security.passwords import Passwords

PASSWORD = "test-password-for-personas"
# argon2 at production cost is ~0.1 s a hash; tests log in hundreds of times. The
# parameters differ, the code path is the same (test_passwords covers the real ones).
CHEAP_PASSWORDS = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
VANCOUVER = zone("America/Vancouver")


# --- users and personas -----------------------------------------------------------------

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


# --- on call ----------------------------------------------------------------------------

async def put_on_call(db: Database, user: User, specialty: str, start: datetime,
                      hours: int = 24 * 7, tier: Tier = Tier.PRIMARY) -> None:
    """A one-off shift from an hour before `start` to `hours` after it."""
    async with db.write() as session:
        session.add(RotaShift(specialty=specialty, specialist_id=user.id or 0,
                              starts_at=start - timedelta(hours=1),
                              ends_at=start + timedelta(hours=hours), tier=tier,
                              created_at=start))


async def dermatology_on_call(db: Database, personas: Personas, start: datetime,
                              hours: int = 24 * 7) -> None:
    """derm primary and derm2 backup (whom an escalation reaches) from `start`; nobody
    for the other specialties, so their consults pool."""
    await put_on_call(db, personas.derm, "dermatology", start, hours)
    await put_on_call(db, personas.derm2, "dermatology", start, hours, tier=Tier.BACKUP)


async def post_shift(client: httpx.AsyncClient, specialty: str, email: str, tier: Tier,
                     starts_at: datetime, ends_at: datetime, *, api: str = "/api/v1") -> None:
    """A one-off shift through the rota API, for a server in another process (`api`:
    the path prefix the client's base URL does not already carry)."""
    response = await client.post(f"{api}/rota/{specialty}/shifts", json={
        "specialist": email, "tier": tier, "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat()})
    assert response.status_code == 201, response.text


async def put_urgent_targets(client: httpx.AsyncClient, specialty: str, *,
                             acknowledge_within: str, respond_within: str = "PT2H",
                             api: str = "/api/v1") -> None:
    """Short urgent windows through the targets API (ISO 8601 durations), in real time."""
    response = await client.put(f"{api}/specialties/{specialty}/targets", json={
        "urgent": {"acknowledge_within": acknowledge_within, "respond_within": respond_within,
                   "business_time": False}})
    assert response.status_code == 200, response.text


# --- a consult --------------------------------------------------------------------------

class ConsultForm(TypedDict, total=False):
    """The submission form's fields; None leaves a field out of the request."""

    specialty: str | None
    urgency: str | None
    question: str | None
    patient_name: str | None
    patient_dob: str | None
    patient_health_number: str | None
    body_site: str | None
    gp: str | None  # the GP a delegate sends for
    image_labels: str | None
    # clinical content (issue 16)
    reason: str | None
    checklist: str | None  # a JSON object of answers
    patient_sex: str | None
    medications: str | None
    allergies: str | None
    specialist: str | None  # "my usual specialist"


FORM: dict[str, str] = {
    "specialty": "dermatology",
    "urgency": "routine",
    "question": "Pigmented lesion on the left shoulder, changed over 3 months. Biopsy?",
    "patient_name": "Jane Example",
    "patient_dob": "1970-05-04",
    "patient_health_number": "9876 543 210",
    "body_site": "left shoulder",
}

Files = list[tuple[str, tuple[str, bytes, str]]]


async def submit(client: httpx.AsyncClient, *, files: Files | None = None,
                 headers: dict[str, str] | None = None,
                 **changes: Unpack[ConsultForm]) -> httpx.Response:
    """POST a valid consult (FORM), with `changes` applied."""
    merged: dict[str, str | None] = dict(FORM)
    # Every ConsultForm value is a str or None; mypy types a TypedDict's values as object.
    merged.update(cast(Mapping[str, str | None], changes))
    data = {k: v for k, v in merged.items() if v is not None}
    return await client.post("/api/v1/consults", data=data, files=files or
                             [("none", ("", b"", "application/octet-stream"))],
                             headers=headers or {})


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`. Any: tests index into it
    freely, and a wrong shape fails the test with a KeyError or TypeError."""
    assert response.status_code == status, response.text
    return response.json()


# --- routing builders (pure data, no database) -------------------------------------------

def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware Vancouver datetime (fold=0 for ambiguous wall times)."""
    return datetime(year, month, day, hour, minute, tzinfo=VANCOUVER)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hm(text: str) -> time:
    return time.fromisoformat(text)


def state(
    specialist_id: int,
    *,
    specialties: frozenset[str] = frozenset({"dermatology"}),
    active: bool = True,
    open_load: int = 0,
    cap: int | None = None,
    last_assigned_at: datetime | None = None,
) -> SpecialistState:
    return SpecialistState(specialist_id, specialties, active, open_load, cap, last_assigned_at)


def interval(
    specialist_id: int, tier: Tier, start: datetime, hours: float = 8
) -> OnCallInterval:
    """An expanded on-call interval from a shift starting at `start`."""
    return OnCallInterval(
        specialist_id,
        tier,
        start.astimezone(UTC),
        (start + timedelta(hours=hours)).astimezone(UTC),
        Source.SHIFT,
    )
