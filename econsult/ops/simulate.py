"""`econsult simulate`: a month of consults through the real services (the people who
act on them: `simulation.driver`).

Each arm gets its own SQLite database in a temporary directory, migrated to head and
seeded with the catalogue, the simulated specialists and GPs, and the month's rota.
Consults are submitted with `consults.submit.submit`, acknowledged with
`consults.lifecycle.acknowledge`, answered with `consults.messaging.post_message`, and
deadlines are run by the real `DeadlineScheduler.run_once` (escalation, at-risk and
breach marks, absences handed back): the driver only decides *when* each person acts
(`simulation.behaviour`) and moves a `ManualClock` from one moment to the next. Who gets
a consult, and where it goes when nobody acknowledges it, is the code's answer, read
back from the events it publishes.

The two arms see the same arrivals and the same behaviour draws (keyed by consult and
attempt, not by call order):

- `policy`: the program as configured for escalation: urgent consults escalate when
  not acknowledged within `POLICY_URGENT_ACK` (10 minutes, so an escalation can still
  land inside the 30-minute window; RACE returns 75% of calls within 10 minutes), the
  other urgencies keep their default windows; load-aware routing among the primaries
  on call (`routing.decision`).
- `baseline`: a plain rota: one named primary per slot (further primaries in the same
  slot are listed as backups, so the routing code always finds exactly one person
  and never balances), and no deadline processing at all, so nothing escalates and a
  missed page stays missed.

A pooled consult is claimed by the specialist the pool notice falls to (whoever is
on call then, else a team member in turn); a page that reaches someone after their
consult went to the pool is taken from the pool by them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import time as wallclock
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlmodel import col

from econsult.clock import ManualClock, zone
from econsult.config import Settings
from econsult.consults.scheduler import DeadlineScheduler
from econsult.db import Database
from econsult.images.blobstores import blob_store_for
from econsult.images.workers import ImageWorkers
from econsult.models import (
    Consult,
    Role,
    RotaAbsence,
    RotaShift,
    RotaWeekly,
    Specialty,
    User,
    UserSpecialty,
)
from econsult.ops.migrate import migrate
from econsult.ops.simulation.arrivals import generate_arrivals
from econsult.ops.simulation.behaviour import Behaviour, BehaviourParams
from econsult.ops.simulation.driver import TAIL, Driver, Escalation, SimDeps, World, gp_email
from econsult.ops.simulation.outcomes import Arm, Outcome
from econsult.ops.simulation.progress import Progress
from econsult.ops.simulation.rota_model import SpecialtyRota, build_rota
from econsult.routing.rota import OnCallInterval, Tier, on_call_at
from econsult.routing.targets import Target, Urgency, default_targets_for, targets_to_json
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring, new_key
from econsult.turnaround.calendar import program_calendar

DEFAULT_ZONE = "America/Vancouver"
# A fixed first day, so a seed means the same month on every machine and every day:
# Monday 2 March 2026 00:00 in Vancouver (no holiday, no clock change inside 30 days).
DEFAULT_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
POLICY_URGENT_ACK = timedelta(minutes=10)


@dataclass
class ArmResult:
    arm: Arm
    outcomes: list[Outcome]
    final_states: dict[str, tuple[str, int | None]]  # consult id -> (state, assigned_to)
    escalations: list[Escalation]
    intervals: dict[str, list[OnCallInterval]]  # the arm's rota, as routing expands it
    seconds: float
    skipped: int = 0  # steps the behaviour wanted that the state machine refused


@dataclass(frozen=True, slots=True)
class SimulationResult:
    world: World
    arms: tuple[ArmResult, ...]

    @property
    def outcomes(self) -> list[Outcome]:
        return [o for arm in self.arms for o in arm.outcomes]


def plain_rota(rota: SpecialtyRota) -> SpecialtyRota:
    """The baseline's rota: the same people and hours, one primary per slot (the first
    listed); the others of that slot become backups, whom only a person would phone."""
    seen: set[tuple[int, time, time]] = set()
    patterns = []
    for p in rota.patterns:
        slot = (p.weekday, p.start, p.end)
        if p.tier == Tier.PRIMARY:
            if slot in seen:
                p = replace(p, tier=Tier.BACKUP)
            seen.add(slot)
        patterns.append(p)
    return replace(rota, patterns=tuple(patterns))


def policy_targets(specialty: str) -> dict[Urgency, Target]:
    targets = default_targets_for(specialty)
    urgent = targets[Urgency.URGENT]
    targets[Urgency.URGENT] = replace(urgent, acknowledge_within=POLICY_URGENT_ACK)
    return targets


def build_world(*, requests: int, days: int, seed: int, start: datetime = DEFAULT_START,
                tz: ZoneInfo | None = None, gps: int = 600) -> World:
    zone_ = tz or zone(DEFAULT_ZONE)
    arrivals = generate_arrivals(requests=requests, days=days, start=start, tz=zone_,
                                 seed=seed, gps=gps)
    specialties = sorted({a.specialty for a in arrivals}) or ["dermatology"]
    rota = build_rota(specialties=specialties, start=start, days=days, tz=zone_, seed=seed)
    return World(start, start + timedelta(days=days), zone_, rota.specialties,
                 tuple(arrivals), gps, seed)


async def simulate(
    world: World,
    *,
    params: BehaviourParams | None = None,
    work_dir: Path | None = None,
    progress: bool | None = None,
    arms: Sequence[Arm] = (Arm.POLICY, Arm.BASELINE),
    on_progress: Callable[[Arm, int, int], None] | None = None,
    time_limit: float | None = None,
) -> SimulationResult:
    """Run each arm over the same world; returns the per-consult outcomes. With
    `time_limit` (seconds of wall clock for the whole run), `SimulationTooLong` is
    raised once it is spent."""
    stop_at = None if time_limit is None else wallclock.perf_counter() + time_limit
    with _work_dir(work_dir) as root:
        template = root / "template"
        settings = _settings(template, world.tz)
        await migrate(settings)
        await _seed_people(settings, world)
        results = []
        for arm in arms:
            arm_dir = root / arm.value
            arm_dir.mkdir()
            for path in template.glob("econsult.db*"):
                shutil.copyfile(path, arm_dir / path.name)
            arm_settings = replace(settings, data_dir=arm_dir,
                                   database_url=f"sqlite+aiosqlite:///{arm_dir / 'econsult.db'}")
            results.append(await _run_arm(arm, arm_settings, world, params, progress,
                                          on_progress, stop_at))
        return SimulationResult(world, tuple(results))


@contextmanager
def _work_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    path = Path(tempfile.mkdtemp(prefix="econsult-sim-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _settings(data_dir: Path, tz: ZoneInfo) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(data_dir=data_dir, master_key=base64.b64encode(new_key()).decode(),
                    timezone=tz, scheduler_enabled=False, image_pool="thread")


async def _seed_people(settings: Settings, world: World) -> None:
    """The specialists (ids as the rota model numbers them) and GPs, written directly:
    accounts nobody logs into need no password hash (the column holds a marker no
    password verifies against)."""
    db = Database.from_settings(settings)
    now = world.start
    try:
        async with db.write() as session:
            for person in sorted(world.specialists.values(), key=lambda s: s.id):
                session.add(User(id=person.id, email=person.email, name=person.name,
                                 role=Role.specialist, password_hash="!simulation",
                                 created_at=now))
            await session.flush()
            for person in world.specialists.values():
                session.add(UserSpecialty(user_id=person.id, specialty=person.specialty))
            for index in range(world.gps):
                session.add(User(email=gp_email(index), name=f"Dr Sim GP {index + 1}",
                                 role=Role.gp, password_hash="!simulation", created_at=now))
    finally:
        await db.dispose()


async def _write_rota(db: Database, rotas: Mapping[str, SpecialtyRota], arm: Arm,
                      now: datetime, targets: Mapping[str, str] | None = None
                      ) -> dict[str, SpecialtyRota]:
    used = {slug: (plain_rota(r) if arm is Arm.BASELINE else r) for slug, r in rotas.items()}
    async with db.write() as session:
        for slug, rota in used.items():
            for p in rota.patterns:
                session.add(RotaWeekly(specialty=slug, specialist_id=p.specialist_id,
                                       weekday=p.weekday, start=p.start, end=p.end,
                                       tier=p.tier.value, created_at=now))
            for s in rota.shifts:
                session.add(RotaShift(specialty=slug, specialist_id=s.specialist_id,
                                      starts_at=s.starts_at, ends_at=s.ends_at,
                                      tier=s.tier.value, created_at=now))
            for a in rota.absences:
                session.add(RotaAbsence(specialist_id=a.specialist_id, starts_at=a.starts_at,
                                        ends_at=a.ends_at, created_at=now))
            if arm is Arm.POLICY:
                given = targets.get(slug) if targets is not None else None
                stored = given or json.dumps(targets_to_json(policy_targets(slug)))
                await session.execute(update(Specialty).where(col(Specialty.slug) == slug)
                                      .values(targets=stored))
    return used


async def _run_arm(arm: Arm, settings: Settings, world: World, params: BehaviourParams | None,
                   progress: bool | None,
                   on_progress: Callable[[Arm, int, int], None] | None,
                   stop_at: float | None = None) -> ArmResult:
    began = wallclock.perf_counter()
    keyring = load_keyring(settings.master_key, settings.key_file)
    db = Database.from_settings(settings)
    workers = ImageWorkers(kind="thread", size=1)
    calendar = program_calendar(settings)
    deps = SimDeps(settings=settings, db=db, keyring=keyring, fields=FieldCipher(keyring),
                   clock=ManualClock(world.start), calendar=calendar, workers=workers,
                   blobs=blob_store_for(settings), audit=GroupRecorder(db))
    try:
        rotas = await _write_rota(db, world.rotas, arm, world.start, world.targets)
        async with db.read() as session:
            gp_ids = {u.email: u.id for u in (await session.execute(
                select(User).where(col(User.role) == Role.gp.value))).scalars()}
        behaviour = Behaviour(params, seed=world.seed, tz=world.tz, calendar=calendar)
        scheduler = DeadlineScheduler(max_sleep=(world.end + TAIL - world.start)
                                      .total_seconds()) if arm is Arm.POLICY else None
        driver = Driver(arm, deps, world, rotas, behaviour, scheduler,
                         [int(gp_ids[gp_email(i)] or 0) for i in range(world.gps)])
        driver.stop_at = stop_at
        with Progress(len(world.arrivals), desc=arm.value, enabled=progress) as bar:
            await driver.run(bar, on_progress)
        outcomes, finals = await _outcomes(arm, db, driver)
    finally:
        await db.dispose()
        workers.shutdown(wait=True)
    return ArmResult(arm, outcomes, finals, driver.escalations, driver.intervals,
                     wallclock.perf_counter() - began, driver.skipped)


async def _outcomes(arm: Arm, db: Database, driver: Driver
                    ) -> tuple[list[Outcome], dict[str, tuple[str, int | None]]]:
    async with db.read() as session:
        consults = list((await session.execute(select(Consult))).scalars())
    names = {s.id: s.name for s in driver.specialists.values()}
    rows, finals = [], {}
    for c in consults:
        finals[c.id] = (str(c.state), c.assigned_to)
        rows.append(Outcome(
            arm=arm, urgency=Urgency(c.urgency), specialty=c.specialty,
            submitted_at=c.submitted_at, acknowledged_at=c.acknowledged_at,
            first_response_at=c.first_response_at, answered_at=c.answered_at,
            owner_at=c.acknowledged_at, escalations=c.escalations,
            specialist=names.get(c.assigned_to) if c.assigned_to is not None else None,
            target_seconds=float(c.target_seconds or 0.0), within_target=c.within_target,
        ))
    rows.sort(key=lambda r: (r.submitted_at, r.specialty))
    return rows, finals


def run_simulation(*, requests: int = 1600, days: int = 30, seed: int = 1,
                   out_dir: Path | None = None, progress: bool | None = None) -> SimulationResult:
    """The synchronous entry point the command uses."""
    world = build_world(requests=requests, days=days, seed=seed)
    return asyncio.run(simulate(world, progress=progress))


def escalated_off_call(result: ArmResult, world: World) -> list[Escalation]:
    """Escalations to someone not on call for the consult's specialty at that moment
    (the invariant: always empty)."""
    bad = []
    for e in result.escalations:
        if e.to is None:
            continue
        person = world.specialists.get(e.to)
        if person is None:
            bad.append(e)
            continue
        if not any(iv.specialist_id == e.to
                   for iv in on_call_at(result.intervals[person.specialty], e.at)):
            bad.append(e)
    return bad




@dataclass(frozen=True, slots=True)
class CoveredAck:
    """Urgent consults sent while someone was on call for their specialty, and the
    share acknowledged within the 30-minute window: where routing can make a
    difference (a consult sent into a rota gap waits in the pool in either arm)."""

    arm: Arm
    n: int
    acknowledged_pct: float


def urgent_ack_when_covered(result: SimulationResult) -> list[CoveredAck]:
    from econsult.ops.simulation.outcomes import ACK_WINDOW

    found = []
    for arm in result.arms:
        covered = [o for o in arm.outcomes if o.urgency == Urgency.URGENT
                   and on_call_at(arm.intervals[o.specialty], o.submitted_at)]
        quick = sum(1 for o in covered if o.acknowledged_at is not None
                    and o.acknowledged_at - o.submitted_at <= ACK_WINDOW)
        found.append(CoveredAck(arm.arm, len(covered),
                                100.0 * quick / len(covered) if covered else 0.0))
    return found
