"""The CSV export: the contract's columns, de-identified, streamed in batches."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col
from starlette.applications import Starlette

from econsult.demo.history import generate
from econsult.http.state import AppState, app_state
from econsult.models import User
from econsult.turnaround import export
from econsult.turnaround.filters import Filters
from tests.conftest import T0, ClientFor
from tests.factories import FORM, Personas, ok, submit

CONTRACT = ("consult_id", "specialty", "urgency", "submitted_at", "acknowledged_at",
            "first_response_at", "answered_at", "closed_at", "seconds_to_answer",
            "target_seconds_to_answer", "within_target", "outcome", "usefulness")


def _svc(app: Starlette) -> AppState:
    svc: AppState = app_state(app)
    return svc


async def _seed(app: Starlette, personas: Personas, n: int) -> None:
    svc = _svc(app)
    await generate(svc.db, n=n, now=T0, cipher=svc.fields, calendar=svc.calendar,
                   gps=[personas.gp.id or 0], specialists={"dermatology": [personas.derm.id or 0]},
                   seed=5, span=timedelta(days=30))


async def test_columns_headers_and_no_patient_data(rota: None, app: Starlette,
                                                   personas: Personas,
                                                   client_for: ClientFor) -> None:
    gp = await client_for(personas.gp)
    made = ok(await submit(gp), 201)
    await _seed(app, personas, 40)
    staff = await client_for(personas.staff)
    response = await staff.get("/api/v1/turnaround.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="turnaround-')
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert set(CONTRACT) <= set(rows[0])
    assert len(rows) == 41 and made["id"] in {r["consult_id"] for r in rows}
    mine = next(r for r in rows if r["consult_id"] == made["id"])
    assert mine["state"] == "assigned" and mine["seconds_to_answer"] == ""
    assert mine["submitted_at"] == T0.isoformat()
    for text in (FORM["patient_name"], FORM["patient_health_number"], FORM["question"][:20],
                 FORM["patient_dob"], FORM["body_site"]):
        assert text not in response.text
    assert [r["submitted_at"] for r in rows] == sorted(r["submitted_at"] for r in rows)


async def test_streams_in_batches(app: Starlette, personas: Personas) -> None:
    await _seed(app, personas, 25)
    chunks = [c async for c in export.consult_rows(_svc(app).db, Filters(), batch=7)]
    assert len(chunks) == 1 + 4  # header, then 7 + 7 + 7 + 4 rows
    assert chunks[0].rstrip("\r\n").split(",") == list(export.HEADER)
    assert [c.count("\r\n") for c in chunks[1:]] == [7, 7, 7, 4]
    whole = list(csv.reader(io.StringIO("".join(chunks))))
    assert len({r[0] for r in whole[1:]}) == 25


def test_cells() -> None:
    assert export.cell(None) == "" and export.cell(True) == "true"
    assert export.cell(0.1 + 0.2) == "0.30000000000000004"  # round-trips exactly
    assert export.cell(T0) == "2026-03-02T17:00:00+00:00"


@pytest.mark.parametrize("hostile", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3",
                                     "@SUM(A1)", "\tcmd", "\rcmd"])
def test_text_cells_cannot_run_as_formulas(hostile: str) -> None:
    [row] = list(csv.reader(io.StringIO(export.csv_text([[hostile, -5, 2.5, "Dr Ok"]]))))
    assert row == ["'" + hostile, "-5", "2.5", "Dr Ok"]


async def test_specialist_export_neutralises_a_hostile_name(
    app: Starlette, personas: Personas, client_for: ClientFor
) -> None:
    async with app_state(app).db.write() as session:
        await session.execute(update(User).where(col(User.id) == personas.derm.id)
                              .values(name='=HYPERLINK("http://evil.example","Dr")'))
    staff = await client_for(personas.staff)
    r = await staff.get("/api/v1/turnaround/specialists.csv")
    assert r.status_code == 200
    names = [row[1] for row in csv.reader(io.StringIO(r.text))]
    assert "'=HYPERLINK(\"http://evil.example\",\"Dr\")" in names
    assert not any(n.startswith("=") for n in names)
