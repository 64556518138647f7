"""The specialty catalogue for everyone; target windows changed by staff only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from econsult.consults.routing_io import targets_of
from econsult.db import Database
from econsult.models import AuditEvent, Specialty
from econsult.ops.migrate import DEFAULT_SPECIALTIES
from econsult.routing.targets import Target, Urgency
from tests.conftest import ClientFor
from tests.factories import Personas

TARGETS = "/api/v1/specialties/{}/targets"


async def stored_targets(db: Database, slug: str) -> dict[Urgency, Target]:
    async with db.read() as s:
        specialty = await s.get(Specialty, slug)
        assert specialty is not None
        return targets_of(specialty)


async def target_audit_count(db: Database) -> int:
    async with db.read() as s:
        query = select(func.count()).where(col(AuditEvent.action) == "specialty.targets.update")
        return int((await s.execute(query)).scalar_one())


@pytest.mark.parametrize("who", ["gp", "derm", "staff", "admin"])
async def test_every_logged_in_user_lists_the_default_catalogue(
    client_for: ClientFor, personas: Personas, who: str
) -> None:
    client = await client_for(personas.all()[who])
    r = await client.get("/api/v1/specialties")
    assert r.status_code == 200
    body = r.json()
    assert {s["slug"] for s in body} == set(DEFAULT_SPECIALTIES) and len(body) == 12
    assert [s["name"] for s in body] == sorted(s["name"] for s in body)
    by_slug = {s["slug"]: s for s in body}
    assert by_slug["cardiology"]["targets"] == {
        "urgent": {"acknowledge_within": "PT30M", "respond_within": "PT2H",
                   "business_time": False, "at_risk_fraction": 0.75},
        "routine": {"acknowledge_within": "P2D", "respond_within": "P7D",
                    "business_time": False, "at_risk_fraction": 0.75},
    }  # fmt: skip
    assert by_slug["dermatology"]["targets"]["semi_urgent"] == {
        "acknowledge_within": "P1D", "respond_within": "P2D", "business_time": True,
        "at_risk_fraction": 0.75,
    }  # fmt: skip
    assert all("semi_urgent" not in s["targets"] for s in body if s["slug"] != "dermatology")


async def test_listing_needs_a_session(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/api/v1/specialties")
    assert r.status_code == 401


async def test_put_targets_round_trips_and_merges(
    client_for: ClientFor, personas: Personas, db: Database
) -> None:
    staff = await client_for(personas.staff)
    r = await staff.put(TARGETS.format("cardiology"),
                        json={"urgent": {"acknowledge_within": "PT15M",
                                         "respond_within": "PT90M"}})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["slug"] == "cardiology" and body["name"] == "Cardiology"
    assert body["targets"]["urgent"] == {
        "acknowledge_within": "PT15M",
        "respond_within": "PT1H30M",
        "business_time": False,
        "at_risk_fraction": 0.75,
    }
    assert body["targets"]["routine"]["respond_within"] == "P7D"  # not named: unchanged

    stored = await stored_targets(db, "cardiology")
    assert stored[Urgency.URGENT] == Target(timedelta(minutes=15), timedelta(minutes=90))
    assert stored[Urgency.ROUTINE] == Target(timedelta(days=2), timedelta(days=7))
    listed = {s["slug"]: s for s in (await staff.get("/api/v1/specialties")).json()}
    assert listed["cardiology"]["targets"] == body["targets"]
    async with db.read() as s:
        row = (await s.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "specialty.targets.update"))).scalar_one()  # fmt: skip
    assert (row.object_type, row.object_id, row.detail) == (
        "specialty",
        "cardiology",
        "urgencies=urgent urgent=PT15M/PT1H30M/calendar/0.75",
    )
    assert row.actor_id == personas.staff.id


async def test_semi_urgent_keeps_business_time_unless_told(
    client_for: ClientFor, personas: Personas, db: Database
) -> None:
    staff = await client_for(personas.staff)
    r = await staff.put(TARGETS.format("dermatology"),
                        json={"semi_urgent": {"acknowledge_within": "PT12H",
                                              "respond_within": "P3D"}})  # fmt: skip
    assert r.status_code == 200
    stored = await stored_targets(db, "dermatology")
    assert stored[Urgency.SEMI_URGENT] == Target(timedelta(hours=12), timedelta(days=3), True)
    r = await staff.put(TARGETS.format("dermatology"),
                        json={"semi_urgent": {"acknowledge_within": "PT12H",
                                              "respond_within": "P3D",
                                              "business_time": False}})  # fmt: skip
    assert r.status_code == 200
    assert (await stored_targets(db, "dermatology"))[Urgency.SEMI_URGENT].business_time is False


@pytest.mark.parametrize(
    ("slug", "body", "words"),
    [
        ("cardiology", {"semi_urgent": {"acknowledge_within": "P1D", "respond_within": "P2D"}},
         "not offered"),
        ("cardiology", {"urgent": {"acknowledge_within": "PT3H", "respond_within": "PT2H"}},
         "longer than respond_within"),
        ("cardiology", {"urgent": {"acknowledge_within": "soon", "respond_within": "PT2H"}},
         "not an ISO 8601 duration"),
        ("cardiology", {"routine": {"acknowledge_within": "P1D", "respond_within": "P1M"}},
         "years or months"),
        ("cardiology", {"routine": {"acknowledge_within": "P1D"}}, "respond_within is required"),
        ("cardiology", {"urgent": {"acknowledge_within": "PT0M", "respond_within": "PT2H"}},
         "longer than zero"),
        ("cardiology", {"critical": {"acknowledge_within": "PT1M", "respond_within": "PT2M"}},
         "unknown urgency"),
        ("cardiology", {}, "at least one urgency"),
        ("cardiology", {"urgent": "PT2H"}, "expected an object"),
        ("cardiology", {"urgent": {"acknowledge_within": "PT1M", "respond_within": "PT2M",
                                   "business_time": "yes"}}, "true or false"),
    ],
)  # fmt: skip
async def test_invalid_targets_are_refused_with_the_reason(
    client_for: ClientFor,
    personas: Personas,
    db: Database,
    slug: str,
    body: dict[str, Any],
    words: str,
) -> None:
    staff = await client_for(personas.staff)
    before = await stored_targets(db, slug)
    r = await staff.put(TARGETS.format(slug), json=body)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]["message"]
    assert await stored_targets(db, slug) == before
    assert await target_audit_count(db) == 0


async def test_unknown_specialty_is_404(client_for: ClientFor, personas: Personas) -> None:
    staff = await client_for(personas.staff)
    r = await staff.put(TARGETS.format("astrology"),
                        json={"urgent": {"acknowledge_within": "PT1M",
                                         "respond_within": "PT2M"}})  # fmt: skip
    assert r.status_code == 404


GOOD = {"urgent": {"acknowledge_within": "PT10M", "respond_within": "PT1H"}}


@pytest.mark.parametrize("who", ["gp", "derm", "cardio", "admin"])
async def test_only_staff_change_targets(
    client_for: ClientFor, personas: Personas, db: Database, who: str
) -> None:
    client = await client_for(personas.all()[who])
    r = await client.put(TARGETS.format("dermatology"), json=GOOD)
    # Like every foreign object: the endpoint does not exist for them (404, not 403).
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await stored_targets(db, "dermatology"))[Urgency.URGENT].acknowledge_within == (
        timedelta(minutes=30)
    )


async def test_put_targets_needs_csrf(
    client_for: ClientFor, personas: Personas, db: Database
) -> None:
    staff = await client_for(personas.staff)
    del staff.headers["X-CSRF-Token"]
    r = await staff.put(TARGETS.format("dermatology"), json=GOOD)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    assert await target_audit_count(db) == 0
