"""Replay a rota before using it: how would a week's rota have done against the last
four weeks' arrivals of its specialty?

The recorded arrivals are read as timestamps and codes only (submitted_at, specialty,
urgency: no patient, no question), each of the four weeks placed on a copy of the week
being tried, at the same weekday and wall-clock time. The week's rota as staff entered
it (weekly patterns, its one-off shifts and absences) repeats over the four copies,
and the simulation (`ops.simulate`, the program's own targets, the real routing,
escalation and deadline code) runs once for the week tried and once for the current
week, so the page can show the two side by side with each week's uncovered hours.

Bounded: at most `MAX_ARRIVALS` arrivals and `TIME_LIMIT` seconds of wall clock; the
run happens in a worker thread with its own event loop and database (`ReplayJobs`), off
the request path, and reports its progress for the page to poll.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time as wallclock
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.errors import InvalidInput, NotFound
from econsult.models import Consult
from econsult.ops.simulate import simulate
from econsult.ops.simulation.arrivals import Arrival, arrivals_from_history
from econsult.ops.simulation.driver import SimulationTooLong, World
from econsult.ops.simulation.outcomes import Arm
from econsult.ops.simulation.report import GroupSummary, summarise
from econsult.ops.simulation.rota_model import (
    Coverage,
    SimSpecialist,
    SpecialtyRota,
    SyntheticRota,
    uncovered_hours,
)
from econsult.rota import service as rota
from econsult.routing.rota import Absence, Shift, Tier, WeeklyPattern
from econsult.routing.targets import Urgency
from econsult.routing.wallclock import to_instant
from econsult.security.policy import Action, Principal, require

WEEKS = 4
MAX_ARRIVALS = 4000
TIME_LIMIT = 120.0  # seconds of wall clock for both runs
KEEP = timedelta(hours=1)  # finished jobs are kept this long for the page to show
SEED = 18  # one fixed seed: the two weeks differ by their rota only


@dataclass(frozen=True, slots=True)
class WeekRota:
    """One specialty's rota for one week, as plain data."""

    monday: date
    specialists: tuple[SimSpecialist, ...]
    patterns: tuple[WeeklyPattern, ...]
    shifts: tuple[Shift, ...]
    absences: tuple[Absence, ...]


@dataclass(frozen=True, slots=True)
class ReplayInput:
    specialty: str
    specialty_name: str
    tz: ZoneInfo
    targets: str  # the specialty's target windows, JSON as stored
    history_from: datetime
    history_to: datetime
    records: tuple[tuple[datetime, str, str], ...]  # (submitted_at, specialty, urgency)
    current: WeekRota
    candidate: WeekRota


@dataclass(frozen=True, slots=True)
class WeekFigures:
    label: str
    monday: date
    summaries: tuple[GroupSummary, ...]
    coverage: tuple[Coverage, ...]
    escalations: int
    seconds: float

    def summary(self, urgency: Urgency) -> GroupSummary | None:
        return next((s for s in self.summaries if s.urgency == urgency), None)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    specialty: str
    specialty_name: str
    history_from: datetime
    history_to: datetime
    arrivals: int
    current: WeekFigures
    candidate: WeekFigures


async def replay_input(db: Database, user: Principal, *, specialty: str, week: date | None,
                       now: datetime, tz: ZoneInfo) -> ReplayInput:
    """What a replay needs, read in two short transactions: the rota of the current
    week and of the week tried (`week`, or next week when it is not in the future), and
    the last four weeks' arrivals of the specialty."""
    require(user, Action.manage_rota)
    this_monday = rota.week_start(now.astimezone(tz).date())
    candidate = week if week is not None and week > this_monday else \
        this_monday + timedelta(days=7)
    weeks = []
    for monday in (this_monday, candidate):
        start = to_instant(monday, time(0), tz)
        view = await rota.rota_view(db, user, specialty=specialty, start=start,
                                    end=to_instant(monday + timedelta(days=7), time(0), tz),
                                    tz=tz)
        weeks.append(_week_rota(view, monday))
    since = now - timedelta(days=7 * WEEKS)
    async with db.read() as session:
        rows = (await session.execute(
            select(col(Consult.submitted_at), col(Consult.specialty), col(Consult.urgency))
            .where(col(Consult.specialty) == view.specialty.slug,
                   col(Consult.submitted_at) >= since, col(Consult.submitted_at) < now)
            .order_by(col(Consult.submitted_at)).limit(MAX_ARRIVALS + 1))).all()
    if len(rows) > MAX_ARRIVALS:
        raise InvalidInput(f"More than {MAX_ARRIVALS} consults in four weeks: too many to "
                           "replay here; use `econsult simulate`.", code="replay_too_large")
    return ReplayInput(view.specialty.slug, view.specialty.name, tz, view.specialty.targets,
                       since, now, tuple((r[0], r[1], r[2]) for r in rows), weeks[0], weeks[1])


def _week_rota(view: rota.RotaView, monday: date) -> WeekRota:
    slug = view.specialty.slug
    rostered = {w.specialist_id for w in view.weekly} | {s.specialist_id for s in view.shifts}
    people = {p.id: p for p in view.specialists}
    for person_id in rostered - people.keys():
        people[person_id] = view.person(person_id)
    specialists = tuple(
        SimSpecialist(p.id, slug, p.email or f"user-{p.id}@replay.example.org",
                      p.name or f"user {p.id}")
        for p in sorted(people.values(), key=lambda p: p.id))
    return WeekRota(
        monday, specialists,
        tuple(WeeklyPattern(w.specialist_id, w.weekday, w.start, w.end, Tier(w.tier))
              for w in view.weekly),
        tuple(Shift(s.specialist_id, s.starts_at, s.ends_at, Tier(s.tier), str(s.id))
              for s in view.shifts),
        tuple(Absence(a.specialist_id, a.starts_at, a.ends_at) for a in view.absences
              if a.specialist_id in people),
    )


def _repeated(week: WeekRota, specialty: str) -> SpecialtyRota:
    """The week's rota over WEEKS copies: patterns as they are, the week's one-off
    shifts and absences moved by whole weeks."""
    def moved(at: datetime, k: int) -> datetime:
        return at + timedelta(days=7 * k)

    shifts = tuple(Shift(s.specialist_id, moved(s.starts_at, k), moved(s.ends_at, k), s.tier,
                         f"{s.id}-{k}")
                   for k in range(WEEKS) for s in week.shifts)
    absences = tuple(Absence(a.specialist_id, moved(a.starts_at, k), moved(a.ends_at, k))
                     for k in range(WEEKS) for a in week.absences)
    return SpecialtyRota(specialty, week.specialists, week.patterns, shifts, absences)


def placed_arrivals(data: ReplayInput, monday: date) -> list[Arrival]:
    """The recorded arrivals, week k of the history on copy k of the week tried."""
    groups: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for record in data.records:
        k = min(WEEKS - 1, int((record[0] - data.history_from) / timedelta(days=7)))
        groups[k].append(record)
    placed: list[Arrival] = []
    for k in sorted(groups):
        start = to_instant(monday + timedelta(days=7 * k), time(0), data.tz)
        placed.extend(arrivals_from_history(groups[k], target_start=start, tz=data.tz))
    placed.sort(key=lambda a: (a.at, a.source_at or a.at))
    return [Arrival(a.at, a.specialty, a.urgency, 0, i, a.source_at)
            for i, a in enumerate(placed)]


async def _figures(data: ReplayInput, week: WeekRota, label: str, *, stop_at: float,
                   progress: _Progress, offset: int) -> WeekFigures:
    began = wallclock.perf_counter()
    start = to_instant(week.monday, time(0), data.tz)
    rota_ = _repeated(week, data.specialty)
    arrivals = placed_arrivals(data, week.monday)
    if not week.specialists:
        raise InvalidInput("Nobody holds this specialty: there is no rota to replay.",
                           code="replay_no_rota")
    world = World(start, start + timedelta(days=7 * WEEKS), data.tz,
                  {data.specialty: rota_}, tuple(arrivals), 1, SEED,
                  targets={data.specialty: data.targets})

    def report(_arm: Arm, done: int, _total: int) -> None:
        progress.done = offset + done

    remaining = max(1.0, stop_at - wallclock.perf_counter())
    result = await simulate(world, arms=(Arm.POLICY,), progress=False, on_progress=report,
                            time_limit=remaining)
    one_week = SyntheticRota(start, start + timedelta(days=7), data.tz,
                             {data.specialty: SpecialtyRota(data.specialty, week.specialists,
                                                            week.patterns, week.shifts,
                                                            week.absences)})
    coverage = tuple(uncovered_hours(one_week, data.specialty).values())
    arm = result.arms[0]
    return WeekFigures(label, week.monday, tuple(summarise(arm.outcomes)), coverage,
                       len(arm.escalations), wallclock.perf_counter() - began)


@dataclass
class _Progress:
    done: int = 0
    total: int = 0


async def run_replay(data: ReplayInput, *, progress: _Progress | None = None,
                     time_limit: float = TIME_LIMIT) -> ReplayResult:
    progress = progress or _Progress()
    n = len(data.records)
    progress.total = 2 * n
    stop_at = wallclock.perf_counter() + time_limit
    current = await _figures(data, data.current, "This week's rota", stop_at=stop_at,
                             progress=progress, offset=0)
    candidate = await _figures(data, data.candidate, "Rota tried", stop_at=stop_at,
                               progress=progress, offset=n)
    progress.done = progress.total
    return ReplayResult(data.specialty, data.specialty_name, data.history_from,
                        data.history_to, n, current, candidate)


@dataclass
class ReplayJob:
    id: str
    owner: int
    specialty: str
    week: date
    started_at: datetime
    progress: _Progress = field(default_factory=_Progress)
    status: str = "running"  # running | done | failed
    result: ReplayResult | None = None
    error: str = ""
    finished_at: datetime | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id, "status": self.status, "specialty": self.specialty,
            "week": self.week.isoformat(), "done": self.progress.done,
            "total": self.progress.total, "error": self.error or None,
        }
        if self.result is not None:
            out["result"] = result_json(self.result)
        return out


class ReplayJobs:
    """Replays of this process: started by staff, run in a thread each, kept an hour.

    One job per specialty and week at a time (asking again while one runs returns it),
    at most `MAX_RUNNING` at once. In-process, like the SQLite deployment; on several
    workers a poll must reach the worker that started the job."""

    MAX_RUNNING = 2

    def __init__(self) -> None:
        self._jobs: dict[str, ReplayJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str, user: Principal) -> ReplayJob:
        require(user, Action.manage_rota)
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound("No such replay.")
        return job

    def latest(self, specialty: str, user: Principal) -> ReplayJob | None:
        require(user, Action.manage_rota)
        jobs = [j for j in self._jobs.values() if j.specialty == specialty]
        return max(jobs, key=lambda j: j.started_at) if jobs else None

    async def start(self, data: ReplayInput, user: Principal, now: datetime) -> ReplayJob:
        require(user, Action.manage_rota)
        with self._lock:
            self._forget(now)
            for job in self._jobs.values():
                if job.status == "running" and job.specialty == data.specialty \
                        and job.week == data.candidate.monday:
                    return job
            if sum(j.status == "running" for j in self._jobs.values()) >= self.MAX_RUNNING:
                raise InvalidInput("Two replays are already running; try again shortly.",
                                   code="replay_busy")
            job = ReplayJob(secrets.token_hex(8), user.id, data.specialty,
                            data.candidate.monday, now)
            self._jobs[job.id] = job
        job.progress.total = 2 * len(data.records)
        asyncio.get_running_loop().create_task(self._run(job, data), name=f"replay-{job.id}")
        return job

    async def _run(self, job: ReplayJob, data: ReplayInput) -> None:
        try:
            job.result = await asyncio.to_thread(
                lambda: asyncio.run(run_replay(data, progress=job.progress)))
            job.status = "done"
        except SimulationTooLong:
            job.status, job.error = "failed", "The replay took too long and was stopped."
        except InvalidInput as exc:
            job.status, job.error = "failed", exc.message
        except Exception:  # reported on the page, not lost with the task
            job.status, job.error = "failed", "The replay failed."
        job.finished_at = datetime.now(UTC)

    def _forget(self, now: datetime) -> None:
        for job_id in [j.id for j in self._jobs.values()
                       if j.status != "running" and j.started_at < now - KEEP]:
            del self._jobs[job_id]


def _summary_json(s: GroupSummary | None) -> dict[str, object] | None:
    if s is None:
        return None
    return {"n": s.n, "acknowledged_within_30min_pct": round(s.acknowledged_in_window_pct, 1),
            "first_response_median_seconds": s.first_response_median_s,
            "answer_median_seconds": s.answer_median_s,
            "answered_within_target_pct": round(s.within_target_pct, 1),
            "answered_within_7d_pct": round(s.within_7d_pct, 1),
            "escalated_pct": round(s.escalated_pct, 1), "unanswered": s.unanswered}


def _week_json(w: WeekFigures) -> dict[str, object]:
    return {
        "label": w.label, "week": w.monday.isoformat(),
        "by_urgency": {s.urgency.value: _summary_json(s) for s in w.summaries},
        "uncovered_hours": {c.urgency.value: round(c.uncovered_hours, 1) for c in w.coverage},
        "no_backup_hours": {c.urgency.value: round(c.no_backup_hours, 1) for c in w.coverage},
        "escalations": w.escalations,
    }


def result_json(r: ReplayResult) -> dict[str, object]:
    return {"specialty": r.specialty, "arrivals": r.arrivals,
            "history_from": r.history_from.isoformat(), "history_to": r.history_to.isoformat(),
            "current": _week_json(r.current), "candidate": _week_json(r.candidate)}


def urgencies_shown(result: ReplayResult) -> Sequence[Urgency]:
    have = {s.urgency for w in (result.current, result.candidate) for s in w.summaries}
    have |= {c.urgency for w in (result.current, result.candidate) for c in w.coverage}
    return [u for u in (Urgency.URGENT, Urgency.SEMI_URGENT, Urgency.ROUTINE) if u in have]
