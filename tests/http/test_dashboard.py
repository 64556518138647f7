"""/dashboard and the per-specialist report: staff only, charts with their numbers, live
counts, and never a word of clinical text."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.consults.escalation import process_due
from econsult.demo.history import generate
from econsult.http.state import AppState, app_state
from econsult.models import Consult
from tests.conftest import T0, ClientFor
from tests.factories import FORM, Personas, ok, submit

SECRET_QUESTION = "Zanzibar-quokka lesion question that must never reach staff pages"
SECRET_NAME = "Quentin Privatepatient"


def _svc(app: Starlette) -> AppState:
    svc: AppState = app_state(app)
    return svc


async def _seed(app: Starlette, personas: Personas, client_for: ClientFor) -> list[str]:
    """Demo history plus one live consult with known clinical strings; returns every
    patient name and question in the database (decrypted), to look for on the pages."""
    svc = _svc(app)
    await generate(svc.db, n=150, now=T0, cipher=svc.fields, calendar=svc.calendar,
                   gps=[personas.gp.id or 0, personas.other_gp.id or 0],
                   specialists={"dermatology": [personas.derm.id or 0, personas.derm2.id or 0],
                                "cardiology": [personas.cardio.id or 0]},
                   seed=3, span=timedelta(days=60))
    ok(await submit(await client_for(personas.gp), question=SECRET_QUESTION,
                    patient_name=SECRET_NAME), 201)
    async with svc.db.read() as db:
        consults = (await db.execute(select(Consult))).scalars().all()
    secrets = [SECRET_QUESTION, SECRET_NAME, FORM["patient_health_number"], FORM["body_site"]]
    for c in consults:
        secrets.append(svc.fields.open("consults", "patient_name", c.id, c.patient_name))
        secrets.append(svc.fields.open("consults", "question", c.id, c.question))
    return secrets


async def test_dashboard_shows_charts_and_tables_without_clinical_text(
        rota: None, app: Starlette, personas: Personas, client_for: ClientFor) -> None:
    secrets = await _seed(app, personas, client_for)
    staff = await client_for(personas.staff)
    page = await staff.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="chart') >= 3  # trend, a histogram per urgency, workload
    assert 'class="target"' in html and "<polyline" in html
    assert "Dr Dana Ermine" in html and "By specialty and urgency" in html
    assert 'data-key="dermatology|routine" data-field="median_seconds_to_answer"' in html
    assert "/static/js/dashboard.js" in html and 'style="' not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # CSP: no inline script
    pages = [html]
    pages.append((await staff.get(f"/dashboard/specialists/{personas.derm.id}")).text)
    pages.append((await staff.get("/dashboard?specialty=dermatology&urgency=routine"
                                  "&from=2026-01-01&to=2026-03-03")).text)
    for path in ("/api/v1/turnaround", "/api/v1/turnaround.csv",
                 "/api/v1/turnaround/specialists", "/api/v1/turnaround/specialists.csv"):
        response = await staff.get(path)
        assert response.status_code == 200
        pages.append(response.text)
    assert len(secrets) > 300
    for text in pages:
        for secret in secrets:
            assert secret not in text


async def test_specialist_report_beside_the_program(rota: None, app: Starlette,
                                                    personas: Personas,
                                                    client_for: ClientFor) -> None:
    await _seed(app, personas, client_for)
    staff = await client_for(personas.staff)
    page = await staff.get(f"/dashboard/specialists/{personas.derm.id}?from=2026-01-01")
    assert page.status_code == 200
    assert "Dr Dana Ermine" in page.text and page.text.count("Program") >= 2
    data = ok(await staff.get("/api/v1/turnaround/specialists?from=2026-01-01"))
    derm = next(s for s in data["specialists"] if s["specialist_id"] == personas.derm.id)
    assert 0 < derm["count"] < data["program"]["count"]
    assert sum(s["count"] for s in data["specialists"]) == data["program"]["count"]
    for bad in (personas.gp.id, 999999, "abc"):
        assert (await staff.get(f"/dashboard/specialists/{bad}")).status_code == 404


async def test_staff_only(personas: Personas, client_for: ClientFor,
                          anon: httpx.AsyncClient) -> None:
    response = await anon.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    for who in (personas.gp, personas.derm, personas.admin):
        client = await client_for(who)
        assert (await client.get("/dashboard")).status_code == 404
        assert (await client.get(f"/dashboard/specialists/{personas.derm.id}")).status_code == 404


async def test_an_unanswered_consult_goes_at_risk_then_breached(
        rota: None, app: Starlette, personas: Personas, client_for: ClientFor,
        clock: ManualClock) -> None:
    svc = _svc(app)
    ok(await submit(await client_for(personas.gp), urgency="urgent"), 201)

    async def counts() -> dict[str, int]:
        staff = await client_for(personas.staff)  # a fresh session after each clock move
        totals = ok(await staff.get("/api/v1/turnaround?from=2026-03-01"))["totals"]
        return {k: totals[k] for k in ("open", "at_risk", "breached")}

    assert await counts() == {"open": 1, "at_risk": 0, "breached": 0}
    clock.advance(timedelta(minutes=91))  # 75% of the 2-hour window
    await process_due(svc)
    assert await counts() == {"open": 1, "at_risk": 1, "breached": 0}
    clock.advance(timedelta(minutes=30))
    await process_due(svc)
    assert await counts() == {"open": 1, "at_risk": 0, "breached": 1}
