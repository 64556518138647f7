"""GET /api/v1/turnaround equals an independent computation from the CSV export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.demo.history import generate
from econsult.http.api_turnaround import parse_filters
from econsult.http.state import AppState, app_state
from econsult.models import AuditEvent, Consult
from econsult.turnaround import aggregates
from econsult.turnaround.aggregates import GROUP_KEYS
from econsult.turnaround.filters import Filters, where_of
from econsult.turnaround.stats import summarise
from tests.conftest import T0, ClientFor
from tests.factories import Personas, ok

OPEN = {"assigned", "pooled", "in_review", "awaiting_gp"}


def _svc(app: Starlette) -> AppState:
    svc: AppState = app_state(app)
    return svc


async def _history(app: Starlette, personas: Personas, n: int = 300) -> None:
    """n demo consults, then ties (routine answers rounded to the hour) and a group whose
    consults are all open (no answers: no percentiles)."""
    svc = _svc(app)
    await generate(svc.db, n=n, now=T0, cipher=svc.fields, calendar=svc.calendar,
                   gps=[personas.gp.id or 0],
                   specialists={"dermatology": [personas.derm.id or 0, personas.derm2.id or 0],
                                "cardiology": [personas.cardio.id or 0]},
                   seed=11, span=timedelta(days=90))
    async with svc.db.write() as db:
        rows = (await db.execute(select(col(Consult.id), col(Consult.seconds_to_answer),
                                        col(Consult.target_seconds))
                                 .where(col(Consult.urgency) == "routine",
                                        col(Consult.seconds_to_answer).is_not(None)))).all()
        for cid, seconds, target in rows:
            assert seconds is not None and target is not None  # answered consults have both
            tied = float(round(seconds / 3600) * 3600)
            await db.execute(update(Consult).where(col(Consult.id) == cid).values(
                seconds_to_answer=tied, within_target=tied <= target))
        some = (await db.execute(select(col(Consult.id)).limit(4))).scalars().all()
        await db.execute(update(Consult).where(col(Consult.id).in_(some)).values(
            specialty="neurology", urgency="urgent", state="in_review", answered_at=None,
            seconds_to_answer=None, within_target=None, closed_at=None, outcome=None,
            usefulness=None, at_risk_at=T0 - timedelta(hours=1), breached_at=None))
    assert len(rows) > 100 and len({r[1] for r in rows}) > 0


def _expected(rows: list[dict[str, str]]) -> dict[str, Any]:
    """The contract's fields from CSV rows, with stats.summarise as the reference."""
    answered = [r for r in rows if r["seconds_to_answer"]]
    ref = summarise([float(r["seconds_to_answer"]) for r in answered],
                    [float(r["target_seconds_to_answer"]) for r in answered])
    is_open = [r for r in rows if r["state"] in OPEN]
    outcomes = [r["outcome"] for r in rows if r["outcome"]]
    return {
        "count": len(rows), "answered": ref.count,
        "median_seconds_to_answer": ref.median, "p90_seconds_to_answer": ref.p90,
        "within_target_pct": ref.within_target_pct, "open": len(is_open),
        "at_risk": sum(1 for r in is_open if r["at_risk_at"] and not r["breached_at"]),
        "breached": sum(1 for r in is_open if r["breached_at"]),
        "referral_avoided_pct": (100.0 * outcomes.count("referral_avoided") / len(outcomes)
                                 if outcomes else None),
    }


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for name, value in want.items():
        if isinstance(value, float) and name.endswith("pct"):
            assert got[name] == pytest.approx(value, rel=1e-12), name
        else:
            assert got[name] == value, name  # percentiles are observed values: exact


async def _csv(client: httpx.AsyncClient, query: str = "") -> list[dict[str, str]]:
    response = await client.get("/api/v1/turnaround.csv" + query)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def _check(api: dict[str, Any], rows: list[dict[str, str]]) -> None:
    groups: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        groups[(r["specialty"], r["urgency"])].append(r)
    assert [(g["specialty"], g["urgency"]) for g in api["groups"]] == sorted(groups)
    for g in api["groups"]:
        assert set(g) == {"specialty", "urgency", *aggregates.CONTRACT_FIELDS}
        _same(g, _expected(groups[(g["specialty"], g["urgency"])]))
    _same(api["totals"], _expected(rows))


async def test_aggregates_equal_the_csv(app: Starlette, personas: Personas,
                                        client_for: ClientFor) -> None:
    await _history(app, personas)
    staff = await client_for(personas.staff)
    rows = await _csv(staff)
    assert len(rows) == 300
    api = ok(await staff.get("/api/v1/turnaround"))
    _check(api, rows)
    empty = next(g for g in api["groups"] if g["specialty"] == "neurology")
    assert empty["answered"] == 0 and empty["median_seconds_to_answer"] is None
    assert empty["within_target_pct"] is None and empty["at_risk"] == 4


@pytest.mark.parametrize("query", [
    "?from=2026-01-15&to=2026-02-10",
    "?from=2026-02-01T00:00:00%2B00:00&specialty=dermatology",
    "?urgency=routine&to=2026-02-20",
    "?specialty=dermatology&urgency=semi_urgent",
    "?from=2030-01-01",  # nothing: no groups, zero totals
    "?from=2000-01-01&to=2100-01-01",  # bounds that exclude nothing
])
async def test_filters_select_the_same_rows_as_the_csv(app: Starlette, personas: Personas,
                                                       client_for: ClientFor,
                                                       query: str) -> None:
    await _history(app, personas, n=200)
    staff = await client_for(personas.staff)
    every = await _csv(staff)
    filters = parse_filters(dict(httpx.QueryParams(query.lstrip("?"))), _svc(app))
    chosen = [r for r in every if _matches(r, filters)]
    assert chosen == await _csv(staff, query)
    _check(ok(await staff.get("/api/v1/turnaround" + query)), chosen)


def _matches(row: dict[str, str], f: Filters) -> bool:
    at = datetime.fromisoformat(row["submitted_at"])
    return ((f.start is None or at >= f.start) and (f.end is None or at < f.end)
            and (f.specialty is None or row["specialty"] == f.specialty)
            and (f.urgency is None or row["urgency"] == f.urgency))


async def test_windowed_percentiles_agree_with_the_seek(app: Starlette,
                                                        personas: Personas) -> None:
    await _history(app, personas, n=200)
    async with _svc(app).db.read() as db:
        seek = await aggregates.summarise(db, Filters())
        window = await aggregates.grouped(db, [], GROUP_KEYS)
        totals = (await aggregates.grouped(db, [], []))[()]
    assert {k: (v.median_seconds_to_answer, v.p90_seconds_to_answer) for k, v in window.items()} \
        == {k: (v.median_seconds_to_answer, v.p90_seconds_to_answer)
            for k, v in seek.groups.items()}
    assert totals.public() == seek.totals.public()



@pytest.mark.parametrize(("filters", "by_flags"), [
    (Filters(), True),
    (Filters(start=T0 - timedelta(days=80)), True),  # most of the 90 days
    (Filters(start=T0 - timedelta(days=30), end=T0 - timedelta(days=10)), False),
    (Filters(specialty="dermatology"), True),
    (Filters(urgency="routine"), False),  # no sort-free walk without the specialty
    (Filters(specialty="dermatology", urgency="urgent", end=T0 - timedelta(days=5)), True),
    (Filters(start=T0 + timedelta(days=1)), False),  # after the last consult
    (Filters(start=T0 - timedelta(days=3650), end=T0 + timedelta(days=1)), True),  # no bounds
])
async def test_counting_by_flags_equals_counting_by_columns(
        app: Starlette, personas: Personas, filters: Filters, by_flags: bool) -> None:
    await _history(app, personas, n=200)
    where = where_of(filters)
    async with _svc(app).db.read() as db:
        span = await aggregates._history(db)
        plan, flags_chosen = aggregates._plan(filters, span, snapshot=True)
        assert flags_chosen is by_flags
        assert aggregates._plan(filters, span, snapshot=False) == (filters, by_flags)
        if filters.start is not None and filters.start < T0 - timedelta(days=365):
            assert (plan.start, plan.end) == (None, None)  # bounds that exclude nothing
        for keys in (GROUP_KEYS, ()):
            flags = await aggregates._counts(db, where, keys, by_flags=True)
            columns = await aggregates._counts(db, where, keys, by_flags=False)
            assert flags == columns
            assert any(s.within for s in columns.values()) or not columns
async def test_staff_only_and_exports_audited(app: Starlette, personas: Personas,
                                              client_for: ClientFor,
                                              anon: httpx.AsyncClient) -> None:
    for path in ("/api/v1/turnaround", "/api/v1/turnaround.csv",
                 "/api/v1/turnaround/specialists", "/api/v1/turnaround/specialists.csv"):
        assert (await anon.get(path)).status_code == 401
        for who in (personas.gp, personas.derm, personas.admin):
            assert (await (await client_for(who)).get(path)).status_code == 404, (path, who)
    staff = await client_for(personas.staff)
    await _csv(staff, "?specialty=dermatology")
    specialists = await staff.get("/api/v1/turnaround/specialists.csv")
    assert specialists.status_code == 200
    assert specialists.text.splitlines()[-1].startswith(",program,")
    async with _svc(app).db.read() as db:
        audit = (await db.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "turnaround.export"))).scalars().all()
    assert [(a.actor_email, a.object_type) for a in audit] == [
        ("staff@example.org", "turnaround.consults"),
        ("staff@example.org", "turnaround.specialists")]
    assert audit[0].detail == "specialty=dermatology"


@pytest.mark.parametrize("query", ["?from=yesterday", "?from=2026-03-02&to=2026-03-01",
                                   "?urgency=soon"])
async def test_bad_filters_answer_400(personas: Personas, client_for: ClientFor,
                                      query: str) -> None:
    staff = await client_for(personas.staff)
    response = await staff.get("/api/v1/turnaround" + query)
    assert response.status_code == 400
    assert response.json()["error"]["field"] in {"from", "to", "urgency"}
