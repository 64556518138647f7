"""Per-day rollups: the figures read through them are the same as those counted from
the consults, and as an independent recomputation from the rows, before and after
changes the job has not seen yet, with partial days at both ends of a range."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.demo.history import generate
from econsult.http.state import app_state
from econsult.models import Consult, RollupState, TurnaroundDay
from econsult.turnaround import aggregates, rollups
from econsult.turnaround.filters import Filters, where_of
from econsult.turnaround.stats import summarise
from tests.conftest import T0
from tests.factories import Personas

FILTERS = (
    Filters(),
    Filters(start=T0 - timedelta(days=30)),
    Filters(start=T0 - timedelta(days=30, hours=5, minutes=7)),
    Filters(start=T0 - timedelta(days=61, hours=3), end=T0 - timedelta(days=9, hours=13)),
    Filters(end=T0 - timedelta(days=20, minutes=1)),
    Filters(start=T0 - timedelta(days=40), specialty="dermatology"),
    Filters(start=T0 - timedelta(days=40), urgency="urgent"),
    Filters(start=T0 - timedelta(days=3, hours=2), end=T0 - timedelta(days=3, hours=1)),
    # Under a twentieth of the history: percentiles sought among the range's own rows.
    Filters(start=T0 - timedelta(days=12, hours=5), end=T0 - timedelta(days=8, hours=2)),
    Filters(start=T0 - timedelta(days=4, hours=7), specialty="dermatology"),
    # Two whole calendar months inside (their bands from the month rows), partial ends.
    Filters(start=T0 - timedelta(days=75, hours=2), end=T0 - timedelta(days=1, hours=5)),
    # Edge months mostly inside: their month rows less the days outside the range (and
    # less the days changed since the watermark, in the test that changes some).
    Filters(start=T0 - timedelta(days=88, hours=3), end=T0 - timedelta(days=33, hours=1)),
    Filters(start=T0 - timedelta(days=58), end=T0 - timedelta(days=40)),
)


async def _history(app: Starlette, personas: Personas) -> None:
    svc = app_state(app)
    await generate(svc.db, n=700, now=T0, cipher=svc.fields, calendar=svc.calendar,
                   gps=[personas.gp.id or 0],
                   specialists={"dermatology": [personas.derm.id or 0, personas.derm2.id or 0],
                                "cardiology": [personas.cardio.id or 0]},
                   seed=18, span=timedelta(days=90))


async def _figures(app: Starlette, f: Filters) -> dict[str, Any]:
    async with app_state(app).db.read() as db:
        summary = await aggregates.summarise(db, f)
    return {"groups": {k: v.full() for k, v in summary.groups.items()},
            "totals": summary.totals.full()}


async def _recomputed(app: Starlette, f: Filters) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Count, answered, median, p90, within, avoided per group, from the rows."""
    async with app_state(app).db.read() as db:
        rows = (await db.execute(select(
            col(Consult.specialty), col(Consult.urgency), col(Consult.seconds_to_answer),
            col(Consult.target_seconds), col(Consult.outcome))
            .where(*where_of(f)))).all()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1])].append(row)
    found = {}
    for key, members in groups.items():
        answered = [(r[2], r[3]) for r in members if r[2] is not None]
        s = summarise([a for a, _ in answered], [t for _, t in answered])
        found[key] = (len(members), s.count, s.median, s.p90,
                      sum(r[4] == "referral_avoided" for r in members))
    return found


def _shape(figures: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {k: (v["count"], v["answered"], v["median_seconds_to_answer"],
                v["p90_seconds_to_answer"], v["avoided"])
            for k, v in figures["groups"].items()}


async def test_rollups_give_the_figures_counted_from_the_consults(
    app: Starlette, personas: Personas
) -> None:
    await _history(app, personas)
    db = app_state(app).db
    before = [await _figures(app, f) for f in FILTERS]  # never built: from the consults
    await rollups.rebuild(db, T0)
    async with db.read() as session:
        days = (await session.execute(select(func.count()).select_from(TurnaroundDay))
                ).scalar()
        assert days and days > 60
    after = [await _figures(app, f) for f in FILTERS]
    assert after == before
    for f, figures in zip(FILTERS, after, strict=True):
        assert _shape(figures) == await _recomputed(app, f), f


async def test_changes_after_the_watermark_count_before_the_job_sees_them(
    app: Starlette, personas: Personas
) -> None:
    await _history(app, personas)
    db = app_state(app).db
    await rollups.rebuild(db, T0)
    async with db.read() as session:
        state = await session.get(RollupState, 1)
        assert state is not None
        watermark = state.watermark
    # A close (outcome), a reroute (specialty) and an answer (time to answer), as the
    # steps write them: with updated_at now, on consults of days already rolled up.
    later = T0 + timedelta(hours=1)
    async with db.write() as session:
        ids = list((await session.execute(
            select(col(Consult.id)).where(col(Consult.submitted_at) < T0 - timedelta(days=10))
            .order_by(col(Consult.submitted_at)).limit(3))).scalars())
        await session.execute(update(Consult).where(col(Consult.id) == ids[0]).values(
            outcome="referral_avoided", usefulness=5, updated_at=later))
        await session.execute(update(Consult).where(col(Consult.id) == ids[1]).values(
            specialty="cardiology", urgency="routine", updated_at=later))
        await session.execute(update(Consult).where(col(Consult.id) == ids[2]).values(
            seconds_to_answer=1.5, within_target=True, updated_at=later))
    assert later > watermark
    for f in FILTERS:
        assert _shape(await _figures(app, f)) == await _recomputed(app, f), f
    # The job recomputes just those days; the figures stay the same.
    assert 1 <= await rollups.refresh(db, later) <= 3
    for f in FILTERS:
        assert _shape(await _figures(app, f)) == await _recomputed(app, f), f
    async with db.read() as session:
        state = await session.get(RollupState, 1)
        assert state is not None and state.watermark == later - rollups.MARGIN
        assert await rollups.dirty_days(session, state.watermark) != []  # still in margin
    assert await rollups.refresh(db, later + timedelta(minutes=10)) >= 1
    # The month rows were recomputed with their days: they add up (no rebuild needed).
    assert await rollups.reconcile(db, later + timedelta(minutes=10)) is False


async def test_reconcile_rebuilds_only_when_the_rollups_do_not_add_up(
    app: Starlette, personas: Personas
) -> None:
    await _history(app, personas)
    db = app_state(app).db
    assert await rollups.reconcile(db, T0) is True  # never built
    assert await rollups.reconcile(db, T0) is False
    # A bulk load around the services: rows older than the watermark, unseen by refresh.
    await generate(db, n=40, now=T0 - timedelta(days=5), cipher=app_state(app).fields,
                   calendar=app_state(app).calendar, gps=[personas.gp.id or 0],
                   specialists={"dermatology": [personas.derm.id or 0]}, seed=19,
                   span=timedelta(days=20))
    assert await rollups.reconcile(db, T0) is True
    for f in FILTERS:
        assert _shape(await _figures(app, f)) == await _recomputed(app, f), f


async def test_a_second_worker_leaves_the_rollups_to_the_one_at_work(
    app: Starlette, personas: Personas
) -> None:
    import pytest
    from sqlalchemy import text

    db = app_state(app).db
    if db.is_sqlite:
        pytest.skip("SQLite's single writer already orders the job")
    await _history(app, personas)
    async with db.write() as session:  # another worker, half way through its pass
        await session.execute(text("SELECT pg_advisory_xact_lock(182026)"))
        assert await rollups.refresh(db, T0) == 0
        async with db.read() as other:
            assert await other.get(RollupState, 1) is None
    assert await rollups.refresh(db, T0) == -1  # built in full once the lock is free
