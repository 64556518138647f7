"""Historical demo consults: columns consistent with their own event timelines."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.consults import deadlines
from econsult.consults.routing_io import targets_of
from econsult.demo.history import generate
from econsult.http.state import AppState, app_state
from econsult.models import OPEN_STATES, Consult, ConsultEvent, Specialty
from econsult.routing.targets import Urgency
from econsult.turnaround.clocks import compute_clocks
from tests.conftest import T0
from tests.factories import Personas

N = 300
_TIMES = select(col(Consult.id), col(Consult.submitted_at), col(Consult.answered_at)).order_by(
    col(Consult.id))


def _svc(app: Starlette) -> AppState:
    svc: AppState = app_state(app)
    return svc


async def _generate(app: Starlette, personas: Personas, n: int = N, seed: int = 7) -> int:
    svc = _svc(app)
    specialists = {"dermatology": [personas.derm.id or 0, personas.derm2.id or 0],
                   "cardiology": [personas.cardio.id or 0]}
    return await generate(svc.db, n=n, now=T0, cipher=svc.fields, calendar=svc.calendar,
                          gps=[personas.gp.id or 0, personas.other_gp.id or 0],
                          specialists=specialists, seed=seed, span=timedelta(days=120))


async def test_columns_agree_with_the_event_timeline(app: Starlette,
                                                     personas: Personas) -> None:
    svc = _svc(app)
    seen: list[tuple[int, int]] = []
    specialists = {"dermatology": [personas.derm.id or 0], "cardiology": [personas.cardio.id or 0]}
    made = await generate(svc.db, n=N, now=T0, cipher=svc.fields, calendar=svc.calendar,
                          gps=[personas.gp.id or 0], specialists=specialists, seed=1,
                          span=timedelta(days=60), progress=lambda d, t: seen.append((d, t)))
    assert made == N and seen[-1] == (N, N)
    async with svc.db.read() as db:
        consults = list((await db.execute(select(Consult))).scalars())
        events = list((await db.execute(select(ConsultEvent)
                                        .order_by(col(ConsultEvent.id)))).scalars())
        targets = {s.slug: targets_of(s) for s in (await db.execute(select(Specialty))).scalars()}
    by_consult: dict[str, list[ConsultEvent]] = {}
    for e in events:
        by_consult.setdefault(e.consult_id, []).append(e)
    assert len(consults) == N and set(by_consult) == {c.id for c in consults}
    for c in consults:
        assert T0 - timedelta(days=60) <= c.submitted_at < T0
        target = targets[c.specialty][Urgency(c.urgency)]
        calendar = svc.calendar if target.business_time else None
        timeline = by_consult[c.id]
        assert all(e.at <= T0 for e in timeline)
        clocks = compute_clocks(deadlines.clock_events(timeline), business=calendar)
        assert clocks.submitted_at == c.submitted_at
        assert clocks.acknowledged_at == c.acknowledged_at
        assert clocks.first_response_at == c.first_response_at
        assert clocks.answered_at == c.answered_at
        assert clocks.closed_at == c.closed_at
        if c.answered_at is None:
            assert c.seconds_to_answer is None and c.within_target is None
        else:
            assert c.seconds_to_answer is not None
            assert c.seconds_to_answer == pytest.approx(clocks.specialist_seconds_to_answer,
                                                        abs=1e-3)
            assert c.within_target == (c.seconds_to_answer <= (c.target_seconds or 0))
        types = [e.type for e in timeline]
        assert (c.at_risk_at is not None) == ("at_risk" in types)
        assert (c.breached_at is not None) == ("breached" in types)
        if c.state in OPEN_STATES:
            assert c.answered_at is None and c.closed_at is None
        if c.state == "awaiting_gp":
            assert c.respond_due_at is None and c.paused_since is not None
        if c.state in ("assigned", "in_review") and c.breached_at is None:
            assert c.respond_due_at is not None and c.respond_due_at > T0
        assert (c.outcome is not None) == (c.state == "closed")
        # Patient fields are sealed tokens that open with the program's keys.
        name = svc.fields.open("consults", "patient_name", c.id, c.patient_name)
        assert name and name.encode() not in c.patient_name


async def test_distributions_are_plausible(app: Starlette, personas: Personas) -> None:
    await _generate(app, personas, n=600)
    async with _svc(app).db.read() as db:
        rows = (await db.execute(select(
            col(Consult.state), col(Consult.urgency), col(Consult.outcome),
            col(Consult.usefulness), col(Consult.within_target), col(Consult.escalations),
            col(Consult.paused_seconds)))).all()
    states = Counter(r[0] for r in rows)
    assert states["closed"] > 400 and sum(states[s] for s in OPEN_STATES) > 0
    outcomes = Counter(r[2] for r in rows if r[2])
    assert 0.5 < outcomes["referral_avoided"] / sum(outcomes.values()) < 0.8
    useful = Counter(r[3] for r in rows if r[3])
    assert useful[5] + useful[4] > 3 * (useful[1] + useful[2] + useful[3])
    within = [r[4] for r in rows if r[4] is not None]
    assert 0.75 < sum(within) / len(within) < 1.0
    assert {r[1] for r in rows} == {"urgent", "semi_urgent", "routine"}
    assert any(r[5] for r in rows) and any(r[6] > 0 for r in rows)


async def test_same_seed_same_history(app: Starlette, personas: Personas) -> None:
    await _generate(app, personas, n=20, seed=3)
    async with _svc(app).db.write() as db:
        first = (await db.execute(_TIMES)).all()
        await db.execute(delete(ConsultEvent))
        await db.execute(delete(Consult))
    await _generate(app, personas, n=20, seed=3)
    async with _svc(app).db.read() as db:
        again = (await db.execute(_TIMES)).all()
        assert (await db.execute(select(func.count()).select_from(Consult))).scalar() == 20
    assert first == again
