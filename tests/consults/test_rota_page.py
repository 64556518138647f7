"""The rota page: a week per specialty, and forms that change the rota."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from econsult.db import Database
from econsult.models import RotaAbsence, RotaShift, RotaWeekly
from tests.conftest import ClientFor
from tests.factories import Personas

PAGE = "/rota?specialty=dermatology&week=2026-03-02"


@pytest.fixture
async def staff(client_for: ClientFor, personas: Personas) -> httpx.AsyncClient:
    return await client_for(personas.staff)


def form(staff: httpx.AsyncClient, action: str, **fields: str) -> dict[str, str]:
    return {"csrf_token": staff.headers["X-CSRF-Token"], "action": action,
            "specialty": "dermatology", "week": "2026-03-02", **fields}  # fmt: skip


async def post_form(staff: httpx.AsyncClient, action: str, **fields: str) -> httpx.Response:
    """Submit as a browser does: urlencoded, the CSRF token only in the form."""
    data = form(staff, action, **fields)
    return await staff.post("/rota", data=data, headers={"X-CSRF-Token": ""})


def day_columns(html: str) -> list[str]:
    return re.findall(r'<li class="rota-day[^"]*">(.*?)</li>', html, flags=re.S)


def entries(column: str) -> list[str]:
    found = re.findall(r'<span class="rota-time">(.*?)</span>\s*'
                       r'<span class="rota-name">(.*?)</span>\s*'
                       r'<span class="rota-tier">(.*?)</span>', column)  # fmt: skip
    return [" ".join(parts) for parts in found]


async def add_weekly(
    staff: httpx.AsyncClient,
    weekday: int,
    start: str,
    end: str,
    email: str = "derm1@example.org",
    tier: str = "primary",
) -> int:
    r = await staff.post("/api/v1/rota/dermatology/weekly",
                         json={"specialist": email, "weekday": weekday, "start": start,
                               "end": end, "tier": tier})  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_week_view_shows_each_day_with_names_and_tiers(staff: httpx.AsyncClient) -> None:
    await add_weekly(staff, 0, "22:00", "06:00")  # Monday night into Tuesday
    await add_weekly(staff, 2, "08:00", "17:00", email="derm2@example.org", tier="backup")
    r = await staff.get(PAGE)
    assert r.status_code == 200
    html = r.text
    assert "Dermatology: week of Mon 02 Mar 2026" in html
    columns = day_columns(html)
    assert len(columns) == 7
    assert [c.split("<small>")[0].split(">")[-1].strip() for c in columns] == [
        "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]  # fmt: skip
    assert entries(columns[0]) == ["22:00–24:00 Dr Dana Ermine primary"]
    assert entries(columns[1]) == ["00:00–06:00 Dr Dana Ermine primary"]
    assert entries(columns[2]) == ["08:00–17:00 Dr Derek Moss backup"]
    assert all(entries(c) == [] and "Nobody on call" in c for c in columns[3:])
    assert 'class="rota-day today"' in html  # Monday 2 March is "today" on the test clock
    assert "week=2026-02-23" in html and "week=2026-03-09" in html  # previous / next
    assert '<option value="dermatology" selected>' in html


async def test_dst_sunday_is_shown_in_wall_clock_time(staff: httpx.AsyncClient) -> None:
    await add_weekly(staff, 6, "08:00", "17:00")
    await add_weekly(staff, 6, "01:00", "04:00", email="derm2@example.org")  # spans the jump
    html = (await staff.get(PAGE)).text
    sunday = day_columns(html)[6]
    assert entries(sunday) == ["01:00–04:00 Dr Derek Moss primary",
                               "08:00–17:00 Dr Dana Ermine primary"]  # fmt: skip
    # The 23-hour day: 08:00-17:00 PDT is 9 of 23 real hours, starting 7 hours in.
    assert 'data-left="30.43" data-width="39.13"' in sunday


async def test_a_week_param_snaps_to_monday_and_defaults_apply(staff: httpx.AsyncClient) -> None:
    r = await staff.get("/rota?specialty=dermatology&week=2026-03-05")
    assert "week of Mon 02 Mar 2026" in r.text
    r = await staff.get("/rota")
    assert r.status_code == 200 and "Dermatology: week of Mon 02 Mar 2026" in r.text
    r = await staff.get("/rota?specialty=cardiology&week=2026-03-16")
    assert "Cardiology: week of Mon 16 Mar 2026" in r.text
    assert (await staff.get("/rota?week=someday")).status_code == 400
    assert (await staff.get("/rota?specialty=astrology")).status_code == 404


async def test_weekly_pattern_added_and_deleted_through_the_forms(
    staff: httpx.AsyncClient, db: Database
) -> None:
    r = await post_form(staff, "add_weekly", specialist="derm1@example.org", weekday="4",
                        start="09:00", end="12:30", tier="backup")  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] == "/rota?specialty=dermatology&week=2026-03-02&done=add_weekly"
    page = await staff.get(r.headers["location"])
    assert "Weekly pattern added." in page.text
    assert entries(day_columns(page.text)[4]) == ["09:00–12:30 Dr Dana Ermine backup"]
    async with db.read() as s:
        [row] = (await s.execute(select(RotaWeekly))).scalars().all()
    assert f'name="id" value="{row.id}"' in page.text

    r = await post_form(staff, "delete_weekly", id=str(row.id))
    assert r.status_code == 303 and r.headers["location"].endswith("done=delete_weekly")
    page = await staff.get(r.headers["location"])
    assert "Weekly pattern removed." in page.text and "No weekly patterns." in page.text
    async with db.read() as s:
        assert (await s.execute(select(RotaWeekly))).scalars().all() == []


async def test_shift_form_reads_local_time_in_the_program_zone(
    staff: httpx.AsyncClient, db: Database
) -> None:
    r = await post_form(staff, "add_shift", specialist="derm2@example.org",
                        starts_at="2026-03-07T20:00", ends_at="2026-03-08T09:00",
                        tier="primary")  # fmt: skip
    assert r.status_code == 303, r.text
    async with db.read() as s:
        [shift] = (await s.execute(select(RotaShift))).scalars().all()
    assert shift.starts_at == datetime(2026, 3, 8, 4, tzinfo=UTC)  # 20:00 PST
    assert shift.ends_at == datetime(2026, 3, 8, 16, tzinfo=UTC)  # 09:00 PDT
    html = (await staff.get(r.headers["location"])).text
    columns = day_columns(html)
    assert entries(columns[5]) == ["20:00–24:00 Dr Derek Moss primary · shift"]
    assert entries(columns[6]) == ["00:00–09:00 Dr Derek Moss primary · shift"]

    r = await post_form(staff, "delete_shift", id=str(shift.id))
    assert r.status_code == 303
    async with db.read() as s:
        assert (await s.execute(select(RotaShift))).scalars().all() == []


async def test_absence_form_splits_the_day_and_can_be_deleted(
    staff: httpx.AsyncClient, db: Database
) -> None:
    await add_weekly(staff, 1, "08:00", "17:00")
    r = await post_form(staff, "add_absence", specialist="derm1@example.org",
                        starts_at="2026-03-03T12:00", ends_at="2026-03-03T13:00")  # fmt: skip
    assert r.status_code == 303
    html = (await staff.get(r.headers["location"])).text
    assert "Absence added." in html
    assert entries(day_columns(html)[1]) == ["08:00–12:00 Dr Dana Ermine primary",
                                             "13:00–17:00 Dr Dana Ermine primary"]  # fmt: skip
    async with db.read() as s:
        [absence] = (await s.execute(select(RotaAbsence))).scalars().all()
    assert absence.starts_at == datetime(2026, 3, 3, 20, tzinfo=UTC)
    r = await post_form(staff, "delete_absence", id=str(absence.id))
    assert r.status_code == 303
    html = (await staff.get(r.headers["location"])).text
    assert entries(day_columns(html)[1]) == ["08:00–17:00 Dr Dana Ermine primary"]


@pytest.mark.parametrize(
    ("action", "fields", "status", "message"),
    [
        ("add_shift", {"specialist": "derm1@example.org", "starts_at": "2026-03-04T10:00",
                       "ends_at": "2026-03-04T09:00", "tier": "primary"}, 400, "end after"),
        ("add_shift", {"specialist": "cardio@example.org", "starts_at": "2026-03-04T10:00",
                       "ends_at": "2026-03-04T19:00", "tier": "primary"}, 400,
         "does not hold Dermatology"),
        ("add_weekly", {"specialist": "", "weekday": "1", "start": "08:00", "end": "17:00",
                        "tier": "primary"}, 400, "Choose a specialist"),
        ("add_absence", {"specialist": "derm1@example.org", "starts_at": "",
                         "ends_at": "2026-03-04T09:00"}, 400, "required"),
        ("delete_shift", {"id": "12345"}, 404, "No such shift"),
        ("explode", {}, 400, "Unknown action"),
    ],
)  # fmt: skip
async def test_form_errors_rerender_with_the_message_and_typed_values(
    staff: httpx.AsyncClient,
    db: Database,
    action: str,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    r = await post_form(staff, action, **fields)
    assert r.status_code == status
    assert message in r.text and 'role="alert"' in r.text
    assert "week of Mon 02 Mar 2026" in r.text
    for name in ("starts_at", "ends_at"):
        if fields.get(name):
            assert f'value="{fields[name]}"' in r.text
    async with db.read() as s:
        for model in (RotaShift, RotaWeekly, RotaAbsence):
            assert (await s.execute(select(model))).scalars().all() == []


@pytest.mark.parametrize("who", ["gp", "other_gp", "derm", "derm2", "cardio", "admin"])
async def test_everyone_but_staff_gets_404_from_the_page(
    client_for: ClientFor, personas: Personas, db: Database, who: str
) -> None:
    client = await client_for(personas.all()[who])
    assert (await client.get(PAGE)).status_code == 404
    r = await post_form(client, "add_weekly", specialist="derm1@example.org", weekday="1",
                        start="08:00", end="17:00", tier="primary")  # fmt: skip
    assert r.status_code == 404
    async with db.read() as s:
        assert (await s.execute(select(RotaWeekly))).scalars().all() == []


async def test_anonymous_is_sent_to_login_and_forms_need_csrf(
    anon: httpx.AsyncClient, staff: httpx.AsyncClient, db: Database
) -> None:
    r = await anon.get(PAGE)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    data = form(staff, "add_weekly", specialist="derm1@example.org", weekday="1",
                start="08:00", end="17:00", tier="primary")  # fmt: skip
    del data["csrf_token"]
    r = await staff.post("/rota", data=data, headers={"X-CSRF-Token": ""})
    assert r.status_code == 403
    r = await staff.post("/rota", data={**data, "csrf_token": "forged"},
                         headers={"X-CSRF-Token": ""})  # fmt: skip
    assert r.status_code == 403
    async with db.read() as s:
        assert (await s.execute(select(RotaWeekly))).scalars().all() == []


async def test_page_has_no_inline_script_or_style(staff: httpx.AsyncClient) -> None:
    await add_weekly(staff, 0, "08:00", "17:00")
    html = (await staff.get(PAGE)).text
    assert "style=" not in html
    assert re.findall(r"<script[^>]*>", html) == [
        '<script type="module" src="/static/js/rota_replay.js">',  # the replay panel
        '<script type="module" src="/static/js/session.js">',  # every signed-in page
        '<script type="module" src="/static/js/rota.js">']
    assert '<link rel="stylesheet" href="/static/css/rota.css">' in html
    for path in ("/static/js/rota.js", "/static/css/rota.css"):
        assert (await staff.get(path)).status_code == 200
