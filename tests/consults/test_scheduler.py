"""The deadline scheduler, stepped on a manual clock: how long it plans to sleep, what
it does when a deadline passes, that its running loop acts when woken, that a restart
misses nothing, and that two processes racing escalate once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults.deps import ConsultDeps
from econsult.consults.escalation import next_deadline, process_due
from econsult.consults.scheduler import DeadlineScheduler
from econsult.consults.submission import SubmitInput
from econsult.consults.submit import submit as submit_consult
from econsult.db import Database
from econsult.http.state import AppState, app_state
from econsult.models import ConsultEvent, Role
from econsult.security.policy import Principal
from tests.conftest import ClientFor
from tests.factories import (
    CHEAP_PASSWORDS,
    Personas,
    dermatology_on_call,
    make_personas,
    ok,
    submit,
)

ACK = timedelta(minutes=30)  # dermatology's default for urgent consults, in real time


async def _escalations(db: Database, consult_id: str) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(ConsultEvent).where(
            col(ConsultEvent.consult_id) == consult_id, col(ConsultEvent.type) == "escalated"))
        ).scalar() or 0)


async def _submit_urgent(state: AppState, gp: Principal, question: str) -> str:
    summary, _ = await submit_consult(state, gp, SubmitInput(
        specialty="dermatology", urgency="urgent", question=question,
        patient_name="A B", patient_dob="1990-01-01", patient_health_number="1234567890",
    ), [])
    return summary.id


def _gp(personas: Personas) -> Principal:
    return Principal(personas.gp.id or 0, Role.gp, email=personas.gp.email)


async def test_run_once_plans_to_wake_at_the_deadline_and_escalates_once_it_passes(
    rota: None, app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock,
) -> None:
    state = app_state(app)
    # A cap far above the window, so the planned sleep is the deadline's own distance.
    scheduler = DeadlineScheduler(max_sleep=24 * 3600)
    assert await scheduler.run_once(state) == 24 * 3600  # nothing pending
    created = ok(await submit(await client_for(personas.gp), urgency="urgent"), 201)
    assert created["assigned_to"] == personas.derm.id
    assert await scheduler.run_once(state) == ACK.total_seconds()

    clock.advance(ACK - timedelta(seconds=1))
    assert await scheduler.run_once(state) == 1.0
    assert await _escalations(state.db, created["id"]) == 0

    clock.advance(timedelta(seconds=1))
    # Escalated; the next deadline is derm2's fresh acknowledge window.
    assert await scheduler.run_once(state) == ACK.total_seconds()
    assert await _escalations(state.db, created["id"]) == 1
    detail = ok(await (await client_for(personas.gp)).get(f"/api/v1/consults/{created['id']}"))
    assert detail["assigned_to"] == personas.derm2.id


async def test_max_sleep_bounds_the_planned_sleep(
    rota: None, app: Starlette, personas: Personas, client_for: ClientFor,
) -> None:
    # Deadlines made by other processes are noticed within max_sleep.
    ok(await submit(await client_for(personas.gp), urgency="urgent"), 201)
    assert await DeadlineScheduler(max_sleep=60).run_once(app_state(app)) == 60


class _Observed(DeadlineScheduler):
    """Counts finished passes and records each planned sleep, so a test waits for the
    loop's passes rather than for time to go by."""

    def __init__(self, *, max_sleep: float, fail_first: bool = False) -> None:
        super().__init__(max_sleep=max_sleep)
        self.planned: list[float] = []
        self.finished = 0
        self._fail_first = fail_first
        self._pass_done = asyncio.Event()

    async def run_once(self, deps: ConsultDeps) -> float:
        try:
            if self._fail_first and self.finished == 0:
                raise OSError("database unavailable")
            delay = await super().run_once(deps)
            self.planned.append(delay)
            return delay
        finally:
            self.finished += 1
            self._pass_done.set()

    async def wait_for_passes(self, count: int) -> None:
        async with asyncio.timeout(10):
            while self.finished < count:
                self._pass_done.clear()
                await self._pass_done.wait()


async def test_the_loop_replans_when_an_earlier_deadline_arrives(
    rota: None, app: Starlette, personas: Personas,
) -> None:
    scheduler = _Observed(max_sleep=3600)
    deps = dataclasses.replace(app_state(app), scheduler=scheduler)
    scheduler.start(deps)
    try:
        await scheduler.wait_for_passes(1)
        assert scheduler.planned == [3600]  # nothing pending: sleep the whole cap
        # Submitting tells the scheduler of the new deadline; it wakes and plans again.
        await _submit_urgent(deps, _gp(personas), "Spreading rash with fever?")
        await scheduler.wait_for_passes(2)
        assert scheduler.planned == [3600, ACK.total_seconds()]
    finally:
        await scheduler.stop()


async def test_the_loop_escalates_a_passed_deadline_on_its_next_pass(
    rota: None, app: Starlette, personas: Personas, clock: ManualClock,
) -> None:
    # A tiny cap: the loop passes again and again, each pass reading the manual clock.
    scheduler = _Observed(max_sleep=0.005)
    deps = dataclasses.replace(app_state(app), scheduler=scheduler)
    consult_id = await _submit_urgent(deps, _gp(personas), "Spreading rash with fever?")
    scheduler.start(deps)
    try:
        await scheduler.wait_for_passes(2)
        assert await _escalations(deps.db, consult_id) == 0
        clock.advance(ACK)
        # Two more finished passes: at least one of them started after the clock moved.
        await scheduler.wait_for_passes(scheduler.finished + 2)
        assert await _escalations(deps.db, consult_id) == 1
    finally:
        await scheduler.stop()


async def test_a_failing_pass_does_not_stop_the_loop(
    app: Starlette, clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    scheduler = _Observed(max_sleep=3600, fail_first=True)
    scheduler.start(app_state(app))
    try:
        await scheduler.wait_for_passes(1)
        assert "deadline scheduler pass failed" in caplog.text
        assert scheduler.planned == []
        scheduler.wake(clock.now())  # instead of waiting out the retry pause
        await scheduler.wait_for_passes(2)
        assert scheduler.planned == [3600]
    finally:
        await scheduler.stop()


async def test_a_restart_misses_no_deadline(settings: Settings, clock: ManualClock) -> None:
    app = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        state = app_state(app)
        personas = await make_personas(state.db, clock)
        await dermatology_on_call(state.db, personas, clock.now())
        consult_id = await _submit_urgent(state, _gp(personas), "Spreading rash with fever?")
    # The server is down while the acknowledge window passes.
    clock.advance(timedelta(hours=1))
    app = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        state = app_state(app)
        await state.scheduler.run_once(state)
        assert await _escalations(state.db, consult_id) == 1


async def test_two_processes_escalate_exactly_once(
    rota: None, app: Starlette, settings: Settings, personas: Personas, clock: ManualClock,
) -> None:
    state = app_state(app)
    ids = [await _submit_urgent(state, _gp(personas), f"Question number {i} here")
           for i in range(5)]
    clock.advance(ACK + timedelta(minutes=1))
    # A second "process": its own engines on the same database.
    other_db = Database(settings.database_url)
    other = dataclasses.replace(state, db=other_db)
    try:
        results = await asyncio.gather(process_due(state), process_due(other),
                                       process_due(state), process_due(other))
    finally:
        await other_db.dispose()
    assert sum(results) == 5
    for consult_id in ids:
        assert await _escalations(state.db, consult_id) == 1
    assert await next_deadline(state) is not None  # derm2's new acknowledge window
