"""Historical consults for the demo and the benchmarks, by bulk insert.

Each consult is sampled as a story (submitted in office hours more often than not,
acknowledged, sometimes escalated, sometimes paused for a clarification, answered
after a log-normal working time per specialty, closed with a survey), then written
as the columns lifecycle would have kept and the event rows it would have recorded,
so every figure on the dashboard agrees with the timeline. A story that runs past
`now` is cut there: the consult stays open in the state it would be in, with its
deadlines set, so the queue, the scheduler and the open / at-risk / breached counts
have work.

Event rows store `data = "{}"`: the `_groups` / `_queue` audience of live events is
for replaying to sockets that missed them, and no socket can have missed events older
than the server, so a million histories do not pay ~100 bytes each for it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlmodel import col

from econsult.db import Database
from econsult.models import Consult, ConsultEvent, Role, Specialty
from econsult.routing.targets import Target, Urgency, urgencies_for
from econsult.security.fields import FieldCipher
from econsult.turnaround.calendar import BusinessCalendar, program_calendar
from econsult.turnaround.clocks import at_risk_at, respond_deadline, target_seconds

Progress = Callable[[int, int], None]
CHUNK = 10_000  # consults per executemany
TRANSACTION = 100_000  # consults per transaction
HOUR = 3600.0
# Median working time to answer (seconds of the target's clock) per urgency, and a
# per-specialty pace: psychiatry and neurology run slower, dermatology faster.
MEDIAN = {"urgent": 0.75 * HOUR, "semi_urgent": 6 * HOUR, "routine": 5 * HOUR}
SIGMA = {"urgent": 0.6, "semi_urgent": 0.75, "routine": 1.0}
PACE = {"dermatology": 0.8, "cardiology": 0.9, "psychiatry": 1.6, "neurology": 1.3,
        "endocrinology": 1.1, "gastroenterology": 1.2}
OUTCOMES = (("referral_avoided", 66), ("referral_still_needed", 18),
            ("referral_now_planned", 10), ("other", 6))
USEFULNESS = ((5, 55), (4, 30), (3, 10), (2, 3), (1, 2))
FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Robin", "Kim")
LAST = ("Nguyen", "Smith", "Singh", "Tremblay", "Li", "Brown", "Martin", "Wong", "Roy", "Lee")
QUESTION = "Synthetic demo consult #{n} for {specialty}: advice on management, please."


def _weighted(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


class _Story:
    """One consult's sampled history: the event list and the columns it implies."""

    def __init__(self, gen: _Generator, n: int) -> None:
        rng, self.gen = gen.rng, gen
        self.specialty = rng.choice(gen.specialties)
        urgencies = sorted(u.value for u in urgencies_for(self.specialty))
        weights = {"urgent": 12, "semi_urgent": 25, "routine": 75}
        self.urgency = rng.choices(urgencies, weights=[weights[u] for u in urgencies])[0]
        target = gen.targets[self.specialty][Urgency(self.urgency)]
        self.cal = gen.calendar if target.business_time else None
        self.target = target
        self.cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.gp = rng.choice(gen.gps)
        self.events: list[tuple[str, int | None, datetime]] = []
        self.row = self._history(rng, self._submitted(rng), n)

    def _submitted(self, rng: random.Random) -> datetime:
        # Volume grows over the period (density 0.7 -> 1.3); most arrive in office hours.
        gen, u = self.gen, rng.random()
        x = (-0.7 + (0.49 + 1.2 * u) ** 0.5) / 0.6  # inverse CDF
        moment = gen.now - gen.span * (1 - x)
        if rng.random() < 0.85:
            day = moment.astimezone(gen.tz).date()
            while not gen.calendar.is_business_day(day):
                day += timedelta(days=1)
            minutes = min(max(rng.gauss(11.5 * 60, 150), 7.5 * 60), 18.5 * 60)
            moment = datetime.combine(day, time(0), gen.tz) + timedelta(minutes=minutes)
        moment = moment.astimezone(UTC)
        return moment if moment < gen.now else gen.now - timedelta(minutes=rng.uniform(1, 600))

    def _after(self, start: datetime, seconds: float) -> datetime:
        """`seconds` of the target's clock after `start` (open time for business targets;
        routine answers also wait for office hours, as specialists work them)."""
        delta = timedelta(seconds=seconds)
        if self.cal is not None or self.urgency == "routine":
            return self.gen.calendar.add_business_time(start, delta)
        return start + delta

    def _history(self, rng: random.Random, sub: datetime, n: int) -> dict[str, Any]:
        gen, urgent = self.gen, self.urgency == "urgent"
        people = gen.specialists[self.specialty]
        assignee = rng.choice(people)
        working = rng.lognormvariate(0, SIGMA[self.urgency]) * MEDIAN[self.urgency] \
            * PACE.get(self.specialty, 1.0)
        ack_gap = rng.lognormvariate(0, 0.8) * (8 * 60 if urgent else 1.5 * HOUR)
        escalated = rng.random() < 0.05 and len(people) > 1
        ack_window = self.target.acknowledge_within.total_seconds()
        if escalated:
            ack_gap = max(ack_gap, ack_window * 1.1)
        ack_gap = min(ack_gap, working * 0.5)
        ev = self.events
        ev += [("submitted", self.gp, sub), ("assigned", None, sub)]
        ack = self._after(sub, ack_gap)
        if escalated:
            esc_at = self._after(sub, ack_window) if self.cal \
                else sub + timedelta(seconds=ack_window)
            if esc_at < ack:
                assignee = rng.choice([p for p in people if p != assignee])
                ev.append(("escalated", None, esc_at))
        ev.append(("acknowledged", assignee, ack))
        pause: tuple[datetime, datetime] | None = None
        if rng.random() < (0.04 if urgent else 0.14):
            asked = self._after(sub, working * rng.uniform(0.2, 0.7))
            replied = asked + timedelta(seconds=rng.lognormvariate(0, 0.9) * 4 * HOUR)
            pause = (asked, replied)
            ev += [("clarification_requested", assignee, asked), ("gp_replied", self.gp, replied)]
            done_before = self._open(sub, asked)
            answered = self._after(replied, max(working - done_before, 60.0))
        else:
            answered = self._after(sub, working)
        cancelled = rng.random() < 0.02
        if cancelled:
            gone = sub + (answered - sub) * rng.uniform(0.1, 0.9)
            ev[:] = [e for e in ev if e[2] <= gone] + [("cancelled", self.gp, gone)]
        else:
            ev.append(("answered", assignee, answered))
        return self._columns(rng, sub, assignee, pause, answered, cancelled, n)

    def _open(self, a: datetime, b: datetime) -> float:
        """Work done between a and b, in the units `_after` spends."""
        if self.cal is not None or self.urgency == "routine":
            return self.gen.calendar.business_seconds_between(a, b)
        return (b - a).total_seconds()

    def _clock(self, a: datetime, b: datetime) -> float:
        """Seconds on the target's clock: open time for business targets, else elapsed."""
        if self.cal is not None:
            return self.cal.business_seconds_between(a, b)
        return (b - a).total_seconds()

    def _columns(self, rng: random.Random, sub: datetime, assignee: int,
                 pause: tuple[datetime, datetime] | None, answered: datetime,
                 cancelled: bool, n: int) -> dict[str, Any]:
        gen, cal, now = self.gen, self.cal, self.gen.now
        pauses = [pause] if pause else []
        goal = target_seconds(self.target.respond_within, cal)
        risk_at = at_risk_at(sub, self.target.respond_within, pauses, cal)
        due = respond_deadline(sub, self.target.respond_within, pauses, cal)
        answered_by = answered if not cancelled else None
        closed_at = outcome = usefulness = None
        if answered_by is not None and rng.random() < 0.9:
            closed_at = answered + timedelta(seconds=rng.lognormvariate(0, 1.0) * 20 * HOUR)
            outcome, usefulness = _weighted(rng, OUTCOMES), _weighted(rng, USEFULNESS)
            self.events.append(("closed", self.gp, closed_at))
        end = next((e[2] for e in self.events if e[0] in ("answered", "cancelled")), now)
        for kind, moment in (("at_risk", risk_at), ("breached", due)):
            if moment is not None and moment <= min(end, now):
                self.events.append((kind, None, moment))
        self.events.sort(key=lambda e: e[2])
        self.events[:] = [e for e in self.events if e[2] <= now]
        seen = {e[0]: e[2] for e in reversed(self.events)}  # first time of each type
        state = self._state(seen)
        paused_since = seen.get("clarification_requested") if state == "awaiting_gp" else None
        paused = (pause[1] - pause[0]).total_seconds() if pause and "gp_replied" in seen else 0.0
        seconds = None
        if "answered" in seen:
            seconds = self._clock(sub, answered) - (self._clock(*pause) if pause else 0.0)
        running = state in ("assigned", "in_review")
        ack_due = None
        if state == "assigned":
            ack_due = self._after(sub, self.target.acknowledge_within.total_seconds()) \
                if cal else sub + self.target.acknowledge_within
        p = gen.cipher.seal
        return {
            "id": self.cid, "gp_id": self.gp, "specialty": self.specialty,
            "urgency": self.urgency, "state": state, "assigned_to": assignee,
            "idempotency_key": None, "submitted_at": sub,
            "updated_at": self.events[-1][2],
            "patient_name": p("consults", "patient_name", self.cid,
                              f"{rng.choice(FIRST)} {rng.choice(LAST)}"),
            "patient_dob": p("consults", "patient_dob", self.cid,
                             f"{rng.randint(1935, 2020)}-{rng.randint(1, 12):02d}-"
                             f"{rng.randint(1, 28):02d}"),
            "patient_health_number": p("consults", "patient_health_number", self.cid,
                                       f"9{rng.randrange(10**9):09d}"),
            "question": p("consults", "question", self.cid,
                          QUESTION.format(n=n, specialty=self.specialty)),
            "clinical_details": None,
            "ack_due_at": ack_due,
            "respond_due_at": due if running else None,
            "at_risk_due_at": risk_at if running and "at_risk" not in seen else None,
            "escalation_tried": "[]", "escalations": int("escalated" in seen), "reroutes": 0,
            "acknowledged_at": seen.get("acknowledged"),
            "first_response_at": seen.get("clarification_requested") or seen.get("answered"),
            "answered_at": seen.get("answered"), "closed_at": seen.get("closed"),
            "cancelled_at": seen.get("cancelled"), "paused_since": paused_since,
            "paused_seconds": paused, "seconds_to_answer": seconds, "target_seconds": goal,
            "within_target": None if seconds is None else seconds <= goal,
            "at_risk_at": seen.get("at_risk"), "breached_at": seen.get("breached"),
            "minutes_spent": rng.randint(5, 30) if "answered" in seen else None,
            "converted_to": None, "outcome": outcome if "closed" in seen else None,
            "usefulness": usefulness if "closed" in seen else None, "close_comment": None,
        }

    @staticmethod
    def _state(seen: Mapping[str, datetime]) -> str:
        for kind, state in (("closed", "closed"), ("cancelled", "cancelled"),
                            ("answered", "answered")):
            if kind in seen:
                return state
        if "clarification_requested" in seen and "gp_replied" not in seen:
            return "awaiting_gp"
        return "in_review" if "acknowledged" in seen else "assigned"


class _Generator:
    def __init__(self, *, now: datetime, span: timedelta, seed: int, cipher: FieldCipher,
                 calendar: BusinessCalendar, gps: Sequence[int],
                 specialists: Mapping[str, Sequence[int]],
                 targets: Mapping[str, Mapping[Urgency, Target]]) -> None:
        self.rng = random.Random(seed)
        self.now, self.span, self.cipher, self.calendar = now, span, cipher, calendar
        self.tz = calendar.tz
        self.gps = list(gps)
        self.specialists = {k: list(v) for k, v in specialists.items() if v and k in targets}
        self.specialties = sorted(self.specialists)
        self.targets = targets

    def consult(self, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        story = _Story(self, n)
        events = [{"consult_id": story.cid, "type": kind, "actor_id": actor, "at": at,
                   "data": "{}"} for kind, actor, at in story.events]
        return story.row, events


async def _targets(db: Database) -> dict[str, dict[Urgency, Target]]:
    from econsult.consults.routing_io import targets_of

    async with db.read() as session:
        return {s.slug: targets_of(s) for s in (await session.execute(select(Specialty))).scalars()}


async def generate(db: Database, *, n: int, now: datetime, cipher: FieldCipher,
                   calendar: BusinessCalendar, gps: Sequence[int],
                   specialists: Mapping[str, Sequence[int]], seed: int = 2026,
                   span: timedelta = timedelta(days=365),
                   progress: Progress | None = None) -> int:
    """Insert `n` consults submitted over `span` before `now`, with their events.

    `specialists` maps a specialty slug to the ids who answer it (specialties absent
    or empty get no consults); `gps` are the submitting GPs. Deterministic for a seed.
    Returns the number inserted.
    """
    if n <= 0:
        return 0
    if not gps or not any(specialists.values()):
        raise ValueError("demo history needs at least one GP and one specialist")
    gen = _Generator(now=now, span=span, seed=seed, cipher=cipher, calendar=calendar, gps=gps,
                     specialists=specialists, targets=await _targets(db))
    done = 0
    async with _bulk_mode(db):
        while done < n:
            async with db.write() as session:
                stop = min(n, done + TRANSACTION)
                while done < stop:
                    size = min(CHUNK, stop - done)
                    rows, events = [], []
                    for i in range(done, done + size):
                        row, evs = gen.consult(i)
                        rows.append(row)
                        events.extend(evs)
                    await session.execute(insert(Consult.__table__), rows)  # type: ignore[attr-defined]
                    await session.execute(insert(ConsultEvent.__table__), events)  # type: ignore[attr-defined]
                    done += size
                    if progress:
                        progress(done, n)
    return done


class _bulk_mode:  # noqa: N801 - used as `async with`
    """SQLite: synchronous=OFF and a large page cache for the load only. A crash mid-load
    can lose the demo data (never corrupt it: WAL stays on); the demo regenerates it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _pragmas(self, *statements: str) -> None:
        if self.db.is_sqlite:
            # On the driver connection, outside any transaction (SQLite refuses these in
            # one); the write pool holds one connection, so the load's writes use it too.
            async with self.db.write_engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                for statement in statements:
                    await raw.execute(statement)  # type: ignore[union-attr]

    async def __aenter__(self) -> None:
        await self._pragmas("PRAGMA synchronous=OFF", "PRAGMA cache_size=-262144")

    async def __aexit__(self, *exc: object) -> None:
        await self._pragmas("PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-2000")
        # Fresh statistics so the planner picks the dashboard's indexes at this size.
        async with self.db.write_engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


async def generate_for_demo(db: Database, settings: Any, *, n: int, users: Mapping[str, int],
                            seed: int = 2026) -> int:
    """`econsult demo`: history for the demo accounts (by role), with a progress bar."""
    from tqdm import tqdm

    from econsult.clock import SystemClock
    from econsult.models import User, UserSpecialty
    from econsult.security.keyring import load_keyring

    ids = set(users.values())
    async with db.read() as session:
        people = (await session.execute(select(col(User.id), col(User.role))
                                        .where(col(User.id).in_(ids)))).all()
        held = (await session.execute(select(col(UserSpecialty.user_id),
                                             col(UserSpecialty.specialty))
                                      .where(col(UserSpecialty.user_id).in_(ids)))).all()
    specialists: dict[str, list[int]] = {}
    for uid, slug in held:
        specialists.setdefault(slug, []).append(uid)
    gps = [int(uid) for uid, role in people if role == Role.gp and uid is not None]
    cipher = FieldCipher(load_keyring(settings.master_key, settings.key_file))
    with tqdm(total=n, unit="consult", desc="history", unit_scale=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        made = await generate(db, n=n, now=SystemClock().now(), cipher=cipher,
                              calendar=program_calendar(settings), gps=gps,
                              specialists=specialists, seed=seed, progress=progress)
    # Bulk-loaded consults skip submit: make them findable by name and health number.
    from econsult.consults.search import reindex

    await reindex(db, cipher.keyring)
    return made
