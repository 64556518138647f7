"""The rota API: staff edit weekly patterns, shifts and absences; everyone else sees 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent, RotaAbsence, RotaShift, RotaWeekly
from tests.conftest import ClientFor
from tests.factories import Personas, utc

ROTA = "/api/v1/rota/dermatology"


async def counts(db: Database) -> tuple[int, int, int, int]:
    """Rows in the three rota tables and rota audit rows: proof that nothing was written."""
    async with db.read() as s:
        return (
            (await s.execute(select(func.count()).select_from(RotaWeekly))).scalar_one(),
            (await s.execute(select(func.count()).select_from(RotaShift))).scalar_one(),
            (await s.execute(select(func.count()).select_from(RotaAbsence))).scalar_one(),
            (
                await s.execute(
                    select(func.count()).where(col(AuditEvent.action).startswith("rota."))
                )
            ).scalar_one(),
        )


async def audit_actions(db: Database) -> list[tuple[str, str, str]]:
    async with db.read() as s:
        rows = (
            await s.execute(
                select(AuditEvent)
                .where(col(AuditEvent.action).startswith("rota."))
                .order_by(col(AuditEvent.id))
            )
        ).scalars()
        return [(r.action, r.object_type, r.object_id) for r in rows]


@pytest.fixture
async def staff(client_for: ClientFor, personas: Personas) -> httpx.AsyncClient:
    return await client_for(personas.staff)


def stretches(body: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [
        (s["specialist"], s["tier"], s["starts_at"], s["ends_at"], s["source"])
        for s in body["shifts"]
    ]


async def test_weekly_pattern_is_added_expanded_and_deleted(
    staff: httpx.AsyncClient, db: Database, personas: Personas
) -> None:
    r = await staff.post(
        f"{ROTA}/weekly",
        json={"specialist": "derm1@example.org", "weekday": 0, "start": "08:00",
              "end": "17:00", "tier": "primary"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()
    assert created == {"id": created["id"], "specialist": "derm1@example.org", "weekday": 0,
                       "start": "08:00", "end": "17:00", "tier": "primary"}  # fmt: skip

    body = (await staff.get(ROTA)).json()  # default: this week, Monday to Monday (PST)
    assert body["specialty"] == "dermatology"
    assert body["from"] == "2026-03-02T08:00:00+00:00"
    assert body["to"] == "2026-03-09T07:00:00+00:00"  # clocks go forward on the 8th
    assert stretches(body) == [
        ("derm1@example.org", "primary", "2026-03-02T16:00:00+00:00",
         "2026-03-03T01:00:00+00:00", "weekly"),
    ]  # fmt: skip
    shift = body["shifts"][0]
    assert shift["name"] == "Dr Dana Ermine" and shift["shift_ids"] == []
    assert shift["specialist_id"] == personas.derm.id
    assert body["weekly"][0]["id"] == created["id"]
    assert body["weekly"][0]["specialist"] == "derm1@example.org"

    r = await staff.delete(f"{ROTA}/weekly/{created['id']}")
    assert r.status_code == 204
    after = (await staff.get(ROTA)).json()
    assert after["shifts"] == [] and after["weekly"] == []
    assert await audit_actions(db) == [
        ("rota.weekly.add", "rota_weekly", str(created["id"])),
        ("rota.weekly.delete", "rota_weekly", str(created["id"])),
    ]


async def test_shift_is_added_listed_and_deleted(staff: httpx.AsyncClient, db: Database) -> None:
    r = await staff.post(
        f"{ROTA}/shifts",
        json={"specialist": "DERM2@example.org", "starts_at": "2026-03-03T09:00:00-08:00",
              "ends_at": "2026-03-03T17:00:00-08:00", "tier": "backup"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    shift = r.json()
    assert shift == {"id": shift["id"], "specialist": "derm2@example.org",
                     "starts_at": "2026-03-03T17:00:00+00:00",
                     "ends_at": "2026-03-04T01:00:00+00:00", "tier": "backup"}  # fmt: skip

    body = (await staff.get(ROTA)).json()
    assert stretches(body) == [
        ("derm2@example.org", "backup", "2026-03-03T17:00:00+00:00",
         "2026-03-04T01:00:00+00:00", "shift"),
    ]  # fmt: skip
    assert body["shifts"][0]["shift_ids"] == [shift["id"]]
    assert [s["id"] for s in body["one_off"]] == [shift["id"]]

    assert (await staff.delete(f"{ROTA}/shifts/{shift['id']}")).status_code == 204
    assert (await staff.get(ROTA)).json()["shifts"] == []
    assert (await staff.delete(f"{ROTA}/shifts/{shift['id']}")).status_code == 404
    assert [a for a, _, _ in await audit_actions(db)] == ["rota.shift.add", "rota.shift.delete"]


async def test_ids_of_another_specialty_or_unknown_answer_404(
    staff: httpx.AsyncClient, db: Database
) -> None:
    shift = await staff.post(
        "/api/v1/rota/cardiology/shifts",
        json={"specialist": "cardio@example.org", "starts_at": "2026-03-03T09:00:00Z",
              "ends_at": "2026-03-03T17:00:00Z", "tier": "primary"},
    )  # fmt: skip
    weekly = await staff.post(
        "/api/v1/rota/cardiology/weekly",
        json={"specialist": "cardio@example.org", "weekday": 1, "start": "09:00",
              "end": "17:00", "tier": "primary"},
    )  # fmt: skip
    assert shift.status_code == weekly.status_code == 201
    before = await counts(db)
    for path in (
        f"{ROTA}/shifts/{shift.json()['id']}",
        f"{ROTA}/weekly/{weekly.json()['id']}",
        f"{ROTA}/shifts/999999",
        f"{ROTA}/weekly/abc",
        "/api/v1/rota/absences/999999",
        "/api/v1/rota/absences/-1",
        "/api/v1/rota/no-such-specialty/shifts/1",
    ):
        r = await staff.delete(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "not_found"
    assert await counts(db) == before
    assert (await staff.get("/api/v1/rota/no-such-specialty")).status_code == 404


GOOD_SHIFT = {"specialist": "derm1@example.org", "starts_at": "2026-03-03T09:00:00-08:00",
              "ends_at": "2026-03-03T17:00:00-08:00", "tier": "primary"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"starts_at": "0001-03-03T09:00:00Z"}, "starts_at", "between 1900 and 2199"),
        ({"ends_at": "9999-03-03T17:00:00Z"}, "ends_at", "between 1900 and 2199"),
        ({"starts_at": "next tuesday"}, "starts_at", "date-time"),
        ({"starts_at": 1700000000}, "starts_at", "text"),
        ({"ends_at": "2026-03-03T08:00:00-08:00"}, "ends_at", "end after"),
        ({"ends_at": "2026-03-03T09:00:00-08:00"}, "ends_at", "end after"),
        ({"ends_at": "2026-03-17T09:00:01-08:00"}, "ends_at", "14 days"),
        ({"specialist": "nobody@example.org"}, "specialist", "No specialist"),
        ({"specialist": "gp@example.org"}, "specialist", "No specialist"),
        ({"specialist": "staff@example.org"}, "specialist", "No specialist"),
        ({"specialist": "cardio@example.org"}, "specialist", "does not hold Dermatology"),
        ({"specialist": ""}, "specialist", "required"),
        ({"tier": "tertiary"}, "tier", "primary or backup"),
    ],
)
async def test_invalid_shifts_are_refused_and_change_nothing(
    staff: httpx.AsyncClient, db: Database, change: dict[str, Any], field: str, words: str
) -> None:
    r = await staff.post(f"{ROTA}/shifts", json={**GOOD_SHIFT, **change})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"]
    assert await counts(db) == (0, 0, 0, 0)


async def test_a_shift_without_an_offset_is_program_time(staff: httpx.AsyncClient) -> None:
    r = await staff.post(f"{ROTA}/shifts", json={**GOOD_SHIFT, "starts_at": "2026-03-03T09:00",
                                                 "ends_at": "2026-03-03T17:00:00"})
    assert r.status_code == 201, r.text
    assert (r.json()["starts_at"], r.json()["ends_at"]) == ("2026-03-03T17:00:00+00:00",
                                                            "2026-03-04T01:00:00+00:00")


async def test_a_disabled_specialist_cannot_be_put_on_call(
    staff: httpx.AsyncClient, client_for: ClientFor, personas: Personas, db: Database
) -> None:
    admin = await client_for(personas.admin)
    assert (await admin.post(f"/admin/users/{personas.derm.id}/active",
                             data={"active": "0"})).status_code == 303  # fmt: skip
    r = await staff.post(f"{ROTA}/shifts", json=GOOD_SHIFT)
    assert r.status_code == 400 and "disabled" in r.json()["error"]["message"]
    assert await counts(db) == (0, 0, 0, 0)


async def test_a_fourteen_day_shift_is_the_longest_allowed(staff: httpx.AsyncClient) -> None:
    # 09:00 PST to 10:00 PDT two weeks later is exactly 14 x 24 real hours.
    too_long = {**GOOD_SHIFT, "ends_at": "2026-03-17T10:00:01-07:00"}
    assert (await staff.post(f"{ROTA}/shifts", json=too_long)).status_code == 400
    longest = {**GOOD_SHIFT, "ends_at": "2026-03-17T10:00:00-07:00"}
    assert (await staff.post(f"{ROTA}/shifts", json=longest)).status_code == 201


GOOD_WEEKLY = {"specialist": "derm1@example.org", "weekday": 2, "start": "08:00",
               "end": "17:00", "tier": "primary"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekday": 7}, "weekday"),
        ({"weekday": -1}, "weekday"),
        ({"weekday": True}, "weekday"),
        ({"weekday": "Monday"}, "weekday"),
        ({"weekday": None}, "weekday"),
        ({"start": "25:00"}, "start"),
        ({"start": "8am"}, "start"),
        ({"end": ""}, "end"),
        ({"end": "17:60"}, "end"),
        ({"tier": "PRIMARY"}, "tier"),
        ({"specialist": "cardio@example.org"}, "specialist"),
        ({"specialist": "nobody@example.org"}, "specialist"),
    ],
)
async def test_invalid_weekly_patterns_are_refused(
    staff: httpx.AsyncClient, db: Database, change: dict[str, Any], field: str
) -> None:
    r = await staff.post(f"{ROTA}/weekly", json={**GOOD_WEEKLY, **change})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["message"]
    assert await counts(db) == (0, 0, 0, 0)


async def test_a_duplicate_weekly_pattern_is_a_conflict(
    staff: httpx.AsyncClient, db: Database
) -> None:
    assert (await staff.post(f"{ROTA}/weekly", json=GOOD_WEEKLY)).status_code == 201
    r = await staff.post(f"{ROTA}/weekly", json=GOOD_WEEKLY)
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate"
    assert await counts(db) == (1, 0, 0, 1)


async def test_bodies_that_are_not_json_objects_are_refused(
    staff: httpx.AsyncClient, db: Database
) -> None:
    r = await staff.post(f"{ROTA}/shifts", content=b"{", headers={"content-type":
                                                                   "application/json"})  # fmt: skip
    assert r.status_code == 400
    assert (await staff.post(f"{ROTA}/weekly", json=[1, 2])).status_code == 400
    assert (await staff.post(f"{ROTA}/weekly", data={"weekday": "1"})).status_code == 415
    assert await counts(db) == (0, 0, 0, 0)


async def test_absence_splits_a_shift_and_can_be_removed(
    staff: httpx.AsyncClient, db: Database
) -> None:
    shift = {**GOOD_SHIFT, "starts_at": "2026-03-03T08:00:00Z", "ends_at": "2026-03-03T20:00:00Z"}
    assert (await staff.post(f"{ROTA}/shifts", json=shift)).status_code == 201
    r = await staff.post(
        "/api/v1/rota/absences",
        json={"specialist": "derm1@example.org", "starts_at": "2026-03-03T12:00:00+00:00",
              "ends_at": "2026-03-03T13:30:00+00:00"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    absence = r.json()
    assert absence == {"id": absence["id"], "specialist": "derm1@example.org",
                       "starts_at": "2026-03-03T12:00:00+00:00",
                       "ends_at": "2026-03-03T13:30:00+00:00"}  # fmt: skip

    body = (await staff.get(ROTA)).json()
    assert [(s["starts_at"], s["ends_at"]) for s in body["shifts"]] == [
        ("2026-03-03T08:00:00+00:00", "2026-03-03T12:00:00+00:00"),
        ("2026-03-03T13:30:00+00:00", "2026-03-03T20:00:00+00:00"),
    ]
    assert [a["id"] for a in body["absences"]] == [absence["id"]]

    assert (await staff.delete(f"/api/v1/rota/absences/{absence['id']}")).status_code == 204
    body = (await staff.get(ROTA)).json()
    assert len(body["shifts"]) == 1 and body["absences"] == []
    assert [a for a, _, _ in await audit_actions(db)] == [
        "rota.shift.add", "rota.absence.add", "rota.absence.delete",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"specialist": "gp@example.org"}, "specialist"),
        ({"starts_at": "soon"}, "starts_at"),
        ({"ends_at": "2026-03-03T11:00:00Z"}, "ends_at"),
        ({"ends_at": "2027-03-05T12:00:00Z"}, "ends_at"),
    ],
)
async def test_invalid_absences_are_refused(
    staff: httpx.AsyncClient, db: Database, change: dict[str, Any], field: str
) -> None:
    good = {"specialist": "derm1@example.org", "starts_at": "2026-03-03T12:00:00Z",
            "ends_at": "2026-03-03T18:00:00Z"}  # fmt: skip
    r = await staff.post("/api/v1/rota/absences", json={**good, **change})
    assert r.status_code == 400 and r.json()["error"]["field"] == field
    assert await counts(db) == (0, 0, 0, 0)


async def test_sunday_pattern_across_spring_forward_is_nine_real_hours(
    staff: httpx.AsyncClient,
) -> None:
    weekly = {**GOOD_WEEKLY, "weekday": 6}  # Sunday 08:00-17:00; clocks jump on Sun 8 March
    assert (await staff.post(f"{ROTA}/weekly", json=weekly)).status_code == 201
    body = (await staff.get(ROTA, params={"from": "2026-03-08", "to": "2026-03-09"})).json()
    assert body["from"] == "2026-03-08T08:00:00+00:00"  # midnight PST
    assert body["to"] == "2026-03-09T07:00:00+00:00"  # midnight PDT: a 23-hour day
    [sunday] = body["shifts"]
    starts = datetime.fromisoformat(sunday["starts_at"])
    ends = datetime.fromisoformat(sunday["ends_at"])
    assert (starts, ends) == (utc(2026, 3, 8, 15), utc(2026, 3, 9, 0))  # 08:00-17:00 PDT
    assert ends - starts == timedelta(hours=9)

    week = (await staff.get(ROTA, params={"from": "2026-03-02", "to": "2026-03-16"})).json()
    sundays = [(s["starts_at"], s["ends_at"]) for s in week["shifts"]]
    assert sundays == [("2026-03-08T15:00:00+00:00", "2026-03-09T00:00:00+00:00"),
                       ("2026-03-15T15:00:00+00:00", "2026-03-16T00:00:00+00:00")]  # fmt: skip


async def test_window_accepts_offsets_and_refuses_bad_bounds(staff: httpx.AsyncClient) -> None:
    assert (await staff.post(f"{ROTA}/weekly", json=GOOD_WEEKLY)).status_code == 201
    r = await staff.get(ROTA, params={"from": "2026-03-04T08:00:00-08:00",
                                      "to": "2026-03-04T20:00:00Z"})  # fmt: skip
    assert r.status_code == 200
    assert (r.json()["from"], r.json()["to"]) == ("2026-03-04T16:00:00+00:00",
                                                  "2026-03-04T20:00:00+00:00")  # fmt: skip
    # Wednesday 08:00-17:00 PST, clipped to the window asked for.
    assert [(s["starts_at"], s["ends_at"]) for s in r.json()["shifts"]] == [
        ("2026-03-04T16:00:00+00:00", "2026-03-04T20:00:00+00:00")
    ]
    # An unencoded '+' arrives as a space; it is read as the offset it was meant to be.
    r = await staff.get(f"{ROTA}?from=2026-03-04T00:00:00+00:00&to=2026-03-05T00:00:00+00:00")
    assert r.status_code == 200 and r.json()["from"] == "2026-03-04T00:00:00+00:00"
    # Without an offset, a date-time is wall-clock time in the program's zone (the one
    # rule for date-times everywhere): 08:00 in Vancouver is 16:00 UTC in March.
    r = await staff.get(ROTA, params={"from": "2026-03-04T08:00:00", "to": "2026-03-04T12:00"})
    assert (r.json()["from"], r.json()["to"]) == ("2026-03-04T16:00:00+00:00",
                                                  "2026-03-04T20:00:00+00:00")  # fmt: skip
    for params, field in [
        ({"from": "0001-01-01"}, "from"),
        ({"to": "9999-12-31T00:00:00Z"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-31"}, "to"),
        ({"from": "2026-03-04", "to": "2026-03-04"}, "to"),
        ({"from": "2026-03-04", "to": "2026-03-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-12-31"}, "to"),
    ]:
        r = await staff.get(ROTA, params=params)
        assert r.status_code == 400, params
        assert r.json()["error"]["field"] == field


NON_STAFF = ("gp", "other_gp", "derm", "derm2", "cardio", "admin")


@pytest.mark.parametrize("who", NON_STAFF)
async def test_everyone_but_staff_gets_404_from_the_rota_api(
    client_for: ClientFor, personas: Personas, db: Database, who: str
) -> None:
    client = await client_for(personas.all()[who])
    calls = [
        ("GET", ROTA, None),
        ("POST", f"{ROTA}/shifts", GOOD_SHIFT),
        ("DELETE", f"{ROTA}/shifts/1", None),
        ("POST", f"{ROTA}/weekly", GOOD_WEEKLY),
        ("DELETE", f"{ROTA}/weekly/1", None),
        ("POST", "/api/v1/rota/absences", {"specialist": "derm1@example.org",
                                          "starts_at": "2026-03-03T12:00:00Z",
                                          "ends_at": "2026-03-03T18:00:00Z"}),
        ("DELETE", "/api/v1/rota/absences/1", None),
    ]  # fmt: skip
    for method, path, body in calls:
        r = await client.request(method, path, json=body)
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["code"] == "not_found"
    assert await counts(db) == (0, 0, 0, 0)


async def test_without_a_session_401_and_without_csrf_403(
    anon: httpx.AsyncClient, staff: httpx.AsyncClient, db: Database
) -> None:
    assert (await anon.get(ROTA)).status_code == 401
    assert (await anon.post(f"{ROTA}/shifts", json=GOOD_SHIFT)).status_code == 401
    del staff.headers["X-CSRF-Token"]
    for method, path, body in [
        ("POST", f"{ROTA}/shifts", GOOD_SHIFT),
        ("POST", f"{ROTA}/weekly", GOOD_WEEKLY),
        ("DELETE", f"{ROTA}/weekly/1", None),
        ("POST", "/api/v1/rota/absences", {}),
        ("DELETE", "/api/v1/rota/absences/1", None),
    ]:
        r = await staff.request(method, path, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    assert await counts(db) == (0, 0, 0, 0)
