"""The deadline scheduler: real sleeping, restart, and two processes racing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from econsult.app import create_app
from econsult.clock import ManualClock, SystemClock
from econsult.config import Settings
from econsult.consults.escalation import next_deadline, process_due
from econsult.consults.scheduler import DeadlineScheduler
from econsult.db import Database
from econsult.http.state import AppState, app_state
from econsult.models import ConsultEvent, Specialty
from tests.factories import CHEAP_PASSWORDS, make_personas, ok, put_on_call, session_for, submit


async def _short_ack(db: Database, seconds: int) -> None:
    async with db.write() as session:
        spec = await session.get(Specialty, "dermatology")
        assert spec is not None
        targets = json.loads(spec.targets)
        targets["urgent"]["acknowledge_within"] = f"PT{seconds}S"
        await session.execute(update(Specialty).where(Specialty.slug == "dermatology")
                              .values(targets=json.dumps(targets)))


async def _escalations(db: Database, consult_id: str) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(ConsultEvent).where(
            ConsultEvent.consult_id == consult_id, ConsultEvent.type == "escalated"))).scalar()
            or 0)


async def test_scheduler_escalates_within_seconds_of_the_deadline(settings: Settings) -> None:
    import httpx

    app = create_app(settings.with_(scheduler_enabled=True), clock=SystemClock())
    async with app.router.lifespan_context(app):
        ctx = app_state(app)
        people = await make_personas(ctx.db, ctx.clock)
        now = datetime.now(UTC)
        await put_on_call(ctx.db, people.derm, "dermatology", now, tier="primary")
        await put_on_call(ctx.db, people.derm2, "dermatology", now, tier="backup")
        await _short_ack(ctx.db, 1)
        token, csrf = await session_for(ctx.db, people.gp, ctx.clock, ctx.settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as gp:
            gp.cookies.set(ctx.settings.session_cookie_name, token)
            gp.headers["X-CSRF-Token"] = csrf
            created = ok(await submit(gp, urgency="urgent"), 201)
            assert created["assigned_to"] == people.derm.id
            due = datetime.fromisoformat(created["ack_due_at"])
            for _ in range(60):
                if await _escalations(ctx.db, created["id"]):
                    break
                await asyncio.sleep(0.1)
            escalated_at = datetime.now(UTC)
            detail = ok(await gp.get(f"/api/v1/consults/{created['id']}"))
    assert detail["assigned_to"] == people.derm2.id
    assert escalated_at - due < timedelta(seconds=3)


async def test_a_restart_misses_no_deadline(settings: Settings) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 17, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        ctx = app_state(app)
        people = await make_personas(ctx.db, clock)
        await put_on_call(ctx.db, people.derm, "dermatology", clock.now(), tier="primary")
        await put_on_call(ctx.db, people.derm2, "dermatology", clock.now(), tier="backup")
        svc: AppState = ctx
        from econsult.consults.submit import SubmitInput
        from econsult.consults.submit import submit as submit_consult
        from econsult.security.policy import Principal

        gp = Principal(people.gp.id or 0, "gp", email="gp@example.org")
        summary, _ = await submit_consult(svc, gp, SubmitInput(
            specialty="dermatology", urgency="urgent", question="Spreading rash with fever?",
            patient_name="A B", patient_dob="1990-01-01", patient_health_number="1234567890",
        ), [])
    # The server is down while the acknowledge window passes.
    clock.advance(timedelta(hours=1))
    app = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        scheduler: DeadlineScheduler = app_state(app).scheduler
        await scheduler.run_once(app_state(app))
        assert await _escalations(app_state(app).db, summary.id) == 1


async def test_two_processes_escalate_exactly_once(settings: Settings) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 17, 0, tzinfo=UTC))
    app = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with app.router.lifespan_context(app):
        ctx = app_state(app)
        people = await make_personas(ctx.db, clock)
        await put_on_call(ctx.db, people.derm, "dermatology", clock.now(), tier="primary")
        await put_on_call(ctx.db, people.derm2, "dermatology", clock.now(), tier="backup")
        svc: AppState = ctx
        from econsult.consults.submit import SubmitInput
        from econsult.consults.submit import submit as submit_consult
        from econsult.security.policy import Principal

        gp = Principal(people.gp.id or 0, "gp", email="gp@example.org")
        ids = []
        for i in range(5):
            summary, _ = await submit_consult(svc, gp, SubmitInput(
                specialty="dermatology", urgency="urgent", question=f"Question number {i} here",
                patient_name="A B", patient_dob="1990-01-01", patient_health_number="1234567890",
            ), [])
            ids.append(summary.id)
        clock.advance(timedelta(minutes=31))
        # A second "process": its own engines on the same database file.
        other_db = Database(settings.database_url)
        other = dataclasses.replace(svc, db=other_db)
        try:
            results = await asyncio.gather(process_due(svc), process_due(other),
                                           process_due(svc), process_due(other))
        finally:
            await other_db.dispose()
        assert sum(results) == 5
        for consult_id in ids:
            assert await _escalations(ctx.db, consult_id) == 1
        assert await next_deadline(svc) is not None  # derm2's new acknowledge window
