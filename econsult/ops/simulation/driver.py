"""The people of `econsult simulate`, acting on the real services: each arrival is
submitted, and each page, pool notice, reply and answer happens when the behaviour
model says, on the arm's `ManualClock`; what becomes of a consult is read back from the
events the services publish (`simulate` builds the arms and collects the results)."""

from __future__ import annotations

import heapq
import time as wallclock
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults import lifecycle, messaging
from econsult.consults.scheduler import DeadlineScheduler
from econsult.consults.submission import SubmitInput
from econsult.consults.submit import submit
from econsult.db import Database
from econsult.errors import DomainError
from econsult.images.store import BlobStore
from econsult.images.workers import ImageWorkers
from econsult.models import ConsultState, Role
from econsult.ops.simulation.arrivals import Arrival
from econsult.ops.simulation.behaviour import Behaviour
from econsult.ops.simulation.outcomes import Arm
from econsult.ops.simulation.progress import Progress
from econsult.ops.simulation.rota_model import SimSpecialist, SpecialtyRota
from econsult.realtime.events import BusEvent
from econsult.routing.rota import Tier, on_call_at
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Keyring
from econsult.security.policy import Principal
from econsult.turnaround.calendar import BusinessCalendar

TAIL = timedelta(days=45)  # after the last arrival, how long open work is followed
_QUESTION = "Simulated consult: no patient, no clinical content (econsult simulate)."


class SimulationTooLong(TimeoutError):
    pass


@dataclass(frozen=True, slots=True)
class World:
    """What both arms share: who works, their rota, the arrivals, the time window."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    rotas: Mapping[str, SpecialtyRota]
    arrivals: tuple[Arrival, ...]
    gps: int
    seed: int
    # The policy arm's target windows per specialty (JSON as stored); None: the
    # defaults with urgent acknowledgement at POLICY_URGENT_ACK.
    targets: Mapping[str, str] | None = None

    @property
    def specialists(self) -> dict[int, SimSpecialist]:
        return {s.id: s for rota in self.rotas.values() for s in rota.specialists}

    def roster(self) -> dict[str, str]:
        return {s.name: s.specialty for s in self.specialists.values()}


class _Kind(IntEnum):
    # At one instant: deadlines first (the scheduler would have run), then people.
    ARRIVAL = 1
    NOTICE = 2
    POOL_NOTICE = 3
    RESPOND = 4
    GP_REPLY = 5
    ANSWER = 6


@dataclass
class SimDeps:
    """What the consult services use (`consults.deps.ConsultDeps`), built for one arm:
    the simulation's own clock, a database of its own, events kept for the driver."""

    settings: Settings
    db: Database
    keyring: Keyring
    fields: FieldCipher
    clock: ManualClock
    calendar: BusinessCalendar
    workers: ImageWorkers
    blobs: BlobStore
    audit: GroupRecorder
    published: list[BusEvent] = field(default_factory=list)
    wake_at: datetime | None = None

    async def publish(self, events: Sequence[BusEvent]) -> None:
        self.published.extend(events)

    def wake(self, when: datetime) -> None:
        if self.wake_at is None or when < self.wake_at:
            self.wake_at = when

    def take_events(self) -> list[BusEvent]:
        events, self.published = self.published, []
        return events


@dataclass(frozen=True, slots=True)
class Escalation:
    consult_id: str
    at: datetime
    to: int | None  # None: to the pool


def gp_email(index: int) -> str:
    return f"sim-gp-{index + 1}@simulation.example.org"



@dataclass
class _Track:
    """What the driver knows of one consult, from the events the services published."""

    arrival: Arrival
    state: str = ""
    owner: int | None = None
    generation: int = 0  # bumped at every new assignment or pooling
    acknowledged: bool = False


class Driver:
    def __init__(self, arm: Arm, deps: SimDeps, world: World, rotas: Mapping[str, SpecialtyRota],
                 behaviour: Behaviour, scheduler: DeadlineScheduler | None,
                 gp_ids: Sequence[int]) -> None:
        self._gp_ids = list(gp_ids)
        self._first: dict[str, str] = {}
        self._minutes: dict[str, int] = {}
        self.arm, self.deps, self.world, self.behaviour = arm, deps, world, behaviour
        self.scheduler = scheduler
        self.intervals = {slug: r.expand(world.start - timedelta(days=1),
                                         world.end + TAIL, world.tz)
                          for slug, r in rotas.items()}
        self.teams = {slug: [s.id for s in r.specialists] for slug, r in rotas.items()}
        self.specialists = world.specialists
        self.heap: list[tuple[datetime, int, int, _Kind, str, int]] = []
        self.seq = 0
        self.tracks: dict[str, _Track] = {}
        self.escalations: list[Escalation] = []
        self.skipped = 0
        self.gps: dict[int, Principal] = {}
        self.stop_at: float | None = None

    # -- the queue of things people do ------------------------------------------------

    def push(self, at: datetime, kind: _Kind, consult_id: str = "", value: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, int(kind), self.seq, kind, consult_id, value))

    async def run(self, bar: Progress, on_progress: Callable[[Arm, int, int], None] | None
                  ) -> None:
        for arrival in self.world.arrivals:
            self.push(arrival.at, _Kind.ARRIVAL, "", arrival.index)
        by_index = {a.index: a for a in self.world.arrivals}
        done, total = 0, len(self.world.arrivals)
        horizon = self.world.end + TAIL
        while self.heap:
            if self.stop_at is not None and wallclock.perf_counter() > self.stop_at:
                raise SimulationTooLong("the simulation ran out of its time")
            at, _, _, kind, consult_id, value = self.heap[0]
            if at > horizon:
                break
            wake = self.deps.wake_at
            if self.scheduler is not None and wake is not None and wake <= at:
                await self._deadlines(wake)
                continue
            heapq.heappop(self.heap)
            self.deps.clock.set(at)
            if kind is _Kind.ARRIVAL:
                await self._arrive(by_index[value])
                done += 1
                bar.update()
                if on_progress is not None and (done % 25 == 0 or done == total):
                    on_progress(self.arm, done, total)
            else:
                await self._act(kind, consult_id, value)

    async def _deadlines(self, when: datetime) -> None:
        assert self.scheduler is not None
        self.deps.clock.set(max(when, self.deps.clock.now()))
        self.deps.wake_at = None
        delay = await self.scheduler.run_once(self.deps)
        self._observe(self.deps.take_events())
        now = self.deps.clock.now()
        self.deps.wake(now + timedelta(seconds=max(delay, 1.0)))

    # -- reacting to what the services did --------------------------------------------

    def _observe(self, events: Sequence[BusEvent]) -> None:
        """Follow each consult's owner from the published events: a new owner gets
        paged, a pooling starts the pool's clock. (Events carry codes and ids only.)"""
        for event in events:
            track = self.tracks.get(event.consult_id)
            if track is None:
                continue
            state = event.data.get("state")
            owner = event.data.get("assigned_to")
            owner_id = owner if isinstance(owner, int) else None
            if event.type == "escalated":
                self.escalations.append(Escalation(event.consult_id, event.at, owner_id))
            if not isinstance(state, str):
                continue
            changed = (state, owner_id) != (track.state, track.owner)
            track.state, track.owner = state, owner_id
            if not changed:
                continue
            if state == ConsultState.assigned.value and owner_id is not None:
                track.generation += 1
                self._page(track, event.consult_id, owner_id, event.at)
            elif state == ConsultState.pooled.value:
                track.generation += 1
                self._pool(track, event.consult_id, event.at)

    def _page(self, track: _Track, consult_id: str, specialist: int, at: datetime) -> None:
        a = track.arrival
        tier = self._tier(a.specialty, specialist, at)
        delay = self.behaviour.notice_delay(
            a.index, specialty=a.specialty, urgency=a.urgency, at=at, tier=tier or Tier.BACKUP,
            attempt=track.generation - 1, specialist_id=specialist)
        if delay is not None:
            self.push(at + delay, _Kind.NOTICE, consult_id, specialist * 1000 + track.generation)

    def _pool(self, track: _Track, consult_id: str, at: datetime) -> None:
        a = track.arrival
        delay = self.behaviour.notice_delay(a.index, specialty=a.specialty, urgency=a.urgency,
                                            at=at, tier=None, attempt=track.generation - 1)
        assert delay is not None  # the pool is always looked at, eventually
        self.push(at + delay, _Kind.POOL_NOTICE, consult_id, track.generation)

    def _tier(self, specialty: str, specialist: int, at: datetime) -> Tier | None:
        tiers = [iv.tier for iv in on_call_at(self.intervals[specialty], at)
                 if iv.specialist_id == specialist]
        if not tiers:
            return None
        return Tier.PRIMARY if Tier.PRIMARY in tiers else Tier.BACKUP

    # -- people acting ----------------------------------------------------------------

    async def _arrive(self, arrival: Arrival) -> None:
        gp = self._gp(arrival.gp_index)
        data = SubmitInput(specialty=arrival.specialty, urgency=arrival.urgency.value,
                           question=_QUESTION, patient_name="Simulated Patient",
                           patient_dob="1970-01-01", patient_health_number="SIM 0000")
        summary, _ = await submit(self.deps, gp, data, [], client_addr="simulation")
        self.tracks[summary.id] = _Track(arrival)
        self._observe(self.deps.take_events())

    def _gp(self, index: int) -> Principal:
        n = max(index, 0) % self.world.gps
        principal = self.gps.get(n)
        if principal is None:
            principal = Principal(id=self._gp_ids[n], role=Role.gp, email=gp_email(n))
            self.gps[n] = principal
        return principal

    def _specialist(self, specialist: int) -> Principal:
        person = self.specialists[specialist]
        return Principal(id=person.id, role=Role.specialist,
                         specialties=frozenset({person.specialty}), email=person.email)

    async def _act(self, kind: _Kind, consult_id: str, value: int) -> None:
        track = self.tracks[consult_id]
        try:
            if kind is _Kind.NOTICE:
                await self._notice(track, consult_id, value // 1000, value % 1000)
            elif kind is _Kind.POOL_NOTICE:
                if track.state == ConsultState.pooled.value and track.generation == value:
                    await self._acknowledge(track, consult_id, self._claimer(track))
            elif kind is _Kind.GP_REPLY:
                await messaging.post_message(self.deps, self._gp(track.arrival.gp_index),
                                             consult_id, body="Reply (simulated).",
                                             kind="message", client_addr="simulation")
            else:
                owner = track.owner
                if owner is None:
                    self.skipped += 1
                    return
                message_kind = "answer" if kind is _Kind.ANSWER else self._first[consult_id]
                await messaging.post_message(
                    self.deps, self._specialist(owner), consult_id,
                    body="Advice (simulated).", kind=message_kind,
                    minutes=self._minutes[consult_id] if message_kind == "answer" else None,
                    client_addr="simulation")
        except DomainError:
            # The behaviour wanted a step the consult no longer allows (it moved on,
            # say handed back at an absence): the person does not take it.
            self.skipped += 1
        self._observe(self.deps.take_events())

    async def _notice(self, track: _Track, consult_id: str, specialist: int,
                      generation: int) -> None:
        if track.acknowledged:
            return
        if track.state == ConsultState.assigned.value and track.owner == specialist \
                and track.generation == generation:
            await self._acknowledge(track, consult_id, specialist)
        elif track.state == ConsultState.pooled.value \
                and self.specialists[specialist].specialty == track.arrival.specialty:
            # Paged, looked, found it in the pool: takes it from there.
            await self._acknowledge(track, consult_id, specialist)

    def _claimer(self, track: _Track) -> int:
        a = track.arrival
        now = self.deps.clock.now()
        on_call = sorted({iv.specialist_id for iv in on_call_at(self.intervals[a.specialty], now)})
        if on_call:
            return on_call[0]
        team = self.teams[a.specialty]
        return team[a.index % len(team)]

    async def _acknowledge(self, track: _Track, consult_id: str, specialist: int) -> None:
        await lifecycle.acknowledge(self.deps, self._specialist(specialist), consult_id,
                                    client_addr="simulation")
        track.acknowledged = True
        a = track.arrival
        now = self.deps.clock.now()
        exchange = self.behaviour.exchange(a.index, specialty=a.specialty, urgency=a.urgency,
                                           acknowledged_at=now)
        self._first[consult_id] = exchange.first_response
        self._minutes[consult_id] = exchange.minutes
        self.push(exchange.first_response_at, _Kind.RESPOND, consult_id)
        if exchange.gp_replied_at is not None:
            self.push(exchange.gp_replied_at, _Kind.GP_REPLY, consult_id)
        if exchange.first_response != "answer":
            self.push(exchange.answered_at, _Kind.ANSWER, consult_id)
