"""Replaying a rota against the last four weeks' arrivals: the API, the page, who may."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.demo import history
from econsult.demo.seed import seed_rota, seed_users
from econsult.http.state import app_state
from econsult.models import Consult, RotaAbsence, User
from econsult.ops.rota_replay import ReplayInput, WeekRota, placed_arrivals
from econsult.rota.service import week_start
from econsult.routing.wallclock import to_instant
from tests.conftest import ClientFor
from tests.factories import CHEAP_PASSWORDS, ok


async def _demo(app: Starlette) -> dict[str, User]:
    state = app_state(app)
    ids = await seed_users(state.db, CHEAP_PASSWORDS)
    await seed_rota(state.db)
    await history.generate(
        state.db, n=240, now=state.clock.now(), cipher=state.fields, calendar=state.calendar,
        gps=[ids["gp@demo.econsult.org"], ids["gp2@demo.econsult.org"]],
        specialists={"dermatology": [ids["derm1@demo.econsult.org"],
                                     ids["derm2@demo.econsult.org"]]},
        span=timedelta(days=40))
    async with state.db.read() as session:
        users = (await session.execute(select(User))).scalars().all()
    return {u.email.split("@")[0]: u for u in users}


async def _finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = ok(await client.get(f"/api/v1/rota/replay/{job_id}"))
        if job["status"] != "running":
            return job
        await asyncio.sleep(0.2)
    raise AssertionError("replay did not finish")


async def test_staff_replay_next_week_against_the_last_four_weeks(
    app: Starlette, client_for: ClientFor, clock: ManualClock
) -> None:
    people = await _demo(app)
    state = app_state(app)
    now = clock.now()
    tz = state.settings.timezone
    # Next week Dr Ermine (the weekday primary) is away all week: the rota tried is worse.
    next_monday = week_start(now.astimezone(tz).date()) + timedelta(days=7)
    async with state.db.write() as session:
        session.add(RotaAbsence(specialist_id=int(people["derm1"].id or 0),
                                starts_at=to_instant(next_monday, time(0), tz),
                                ends_at=to_instant(next_monday + timedelta(days=7), time(0), tz),
                                created_at=now))
    async with state.db.read() as session:
        recorded = (await session.execute(select(func.count()).select_from(Consult).where(
            col(Consult.specialty) == "dermatology",
            col(Consult.submitted_at) >= now - timedelta(days=28)))).scalar()
    assert recorded and recorded > 50

    staff = await client_for(people["staff"])
    started = ok(await staff.post("/api/v1/rota/replay", json={"specialty": "dermatology"}),
                 202)
    assert started["status"] == "running" and started["week"] == next_monday.isoformat()
    job = await _finished(staff, started["id"])
    assert job["status"] == "done", job
    result = job["result"]
    assert result["arrivals"] == recorded
    current, candidate = result["current"], result["candidate"]
    assert sum(u["n"] for u in current["by_urgency"].values()) == recorded
    assert sum(u["n"] for u in candidate["by_urgency"].values()) == recorded
    # Without the weekday primary, more urgent hours have nobody (or nobody but one).
    assert candidate["uncovered_hours"]["urgent"] > current["uncovered_hours"]["urgent"]
    assert candidate["week"] == next_monday.isoformat() and current["week"] < candidate["week"]
    # The week as it stands covers weekday days with a backup, so its urgent consults
    # are mostly acknowledged; the figure is there for both weeks.
    assert 0 <= current["by_urgency"]["urgent"]["acknowledged_within_30min_pct"] <= 100

    page = await staff.get(f"/rota?specialty=dermatology&replay={started['id']}")
    assert page.status_code == 200
    assert 'id="replay-result"' in page.text
    assert f"{recorded} consults from" in page.text


async def test_only_staff_replay(app: Starlette, client_for: ClientFor) -> None:
    people = await _demo(app)
    for who in ("gp", "derm1"):
        client = await client_for(people[who])
        response = await client.post("/api/v1/rota/replay", json={"specialty": "dermatology"})
        assert response.status_code in (403, 404), (who, response.status_code)
        assert "result" not in response.text
    staff = await client_for(people["staff"])
    job = ok(await staff.post("/api/v1/rota/replay", json={"specialty": "dermatology"}), 202)
    gp = await client_for(people["gp"])
    assert (await gp.get(f"/api/v1/rota/replay/{job['id']}")).status_code in (403, 404)
    assert (await staff.get("/api/v1/rota/replay/nope")).status_code == 404
    bad = await staff.post("/api/v1/rota/replay", json={"specialty": "nonsense"})
    assert bad.status_code == 404
    await _finished(staff, job["id"])


def test_each_recorded_week_lands_on_its_own_copy_at_the_same_time() -> None:
    from econsult.clock import zone

    tz = zone("America/Vancouver")
    since = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # a Monday 00:00 in Vancouver
    records = tuple((since + timedelta(days=7 * k + 2, hours=5, minutes=k), "dermatology",
                     "routine") for k in range(4))
    week = WeekRota(datetime(2026, 3, 9).date(), (), (), (), ())
    data = ReplayInput("dermatology", "Dermatology", tz, "{}", since,
                       since + timedelta(days=28), records, week, week)
    placed = placed_arrivals(data, week.monday)
    assert [a.index for a in placed] == [0, 1, 2, 3]
    for k, arrival in enumerate(placed):
        local = arrival.at.astimezone(tz)
        source = records[k][0].astimezone(tz)
        assert local.date() == week.monday + timedelta(days=7 * k + 2)
        assert (local.hour, local.minute) == (source.hour, source.minute)
