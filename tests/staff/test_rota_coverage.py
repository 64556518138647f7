"""The rota week as staff run it: on call now, gaps against the targets, people who are
not routed to, copying last week, caps, and each specialist's calendar feed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select, update
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import AuditEvent, RotaShift, RotaWeekly, Specialty, User
from econsult.routing.rota import Tier
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok, submit

PAGE = "/rota?specialty=dermatology&week=2026-03-02"


async def demo_rota(db: Database, personas: Personas) -> None:
    """The shape `econsult demo` seeds: weekdays 08-17 primary + backup, 17-22 alone;
    weekends 09-17 one person; nobody at night."""
    derm, derm2 = personas.derm.id or 0, personas.derm2.id or 0
    async with db.write() as session:
        for weekday in range(7):
            shifts = ([(derm, time(8), time(17), "primary"), (derm2, time(8), time(17), "backup"),
                       (derm, time(17), time(22), "primary")] if weekday < 5
                      else [(derm2, time(9), time(17), "primary")])
            for sid, start, end, tier in shifts:
                session.add(RotaWeekly(specialty="dermatology", specialist_id=sid,
                                       weekday=weekday, start=start, end=end, tier=tier,
                                       created_at=datetime(2026, 1, 1, tzinfo=UTC)))


def warnings(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", w).strip() for w in
            re.findall(r'<li class="gap-warning gap-uncovered"[^>]*><strong>(.*?)</strong>', html)]


async def _form(client: httpx.AsyncClient, action: str, **fields: str) -> httpx.Response:
    return await client.post("/rota", headers={"X-CSRF-Token": ""}, data={
        "csrf_token": client.headers["X-CSRF-Token"], "action": action,
        "specialty": "dermatology", "week": "2026-03-02", **fields})


async def test_uncovered_nights_warn_and_a_shift_clears_the_warning(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    await demo_rota(db, personas)
    staff = await client_for(personas.staff)
    html = (await staff.get(PAGE)).text
    found = warnings(html)
    assert "urgent dermatology uncovered Mon 22:00–08:00" in found
    assert "urgent dermatology uncovered Fri 22:00–09:00" in found
    assert "urgent dermatology uncovered Sun 17:00–08:00" in found  # into Monday
    # Nights have no business hours and the weekend is shorter than two days: only
    # urgent consults are at stake.
    assert all(w.startswith("urgent ") for w in found)
    assert "urgent dermatology has no backup Mon 17:00–22:00" in html
    assert "On call now:</strong>" in html
    assert "Dr Dana Ermine (primary), Dr Derek Moss (backup)" in html
    assert html.count("on call now</span>") == 2  # Monday 08-17, on the test clock's 09:00
    assert 'class="rota-mark mark-gap"' in html

    r = await _form(staff, "add_shift", specialist=personas.derm2.email,
                    starts_at="2026-03-02T22:00", ends_at="2026-03-03T08:00", tier="primary")
    assert r.status_code == 303, r.text
    after = warnings((await staff.get(r.headers["location"])).text)
    assert "urgent dermatology uncovered Mon 22:00–08:00" not in after
    assert len(after) == len(found) - 1


async def test_disabled_and_away_people_are_marked_and_leave_gaps(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    await demo_rota(db, personas)
    staff = await client_for(personas.staff)
    r = await staff.post("/api/v1/rota/absences", json={
        "specialist": personas.derm2.email, "starts_at": "2026-03-07T00:00",
        "ends_at": "2026-03-09T00:00"})
    assert r.status_code == 201
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == personas.derm.id)
                              .values(active=False))
    html = (await staff.get(PAGE)).text
    assert "disabled: not routed to" in html
    now = re.search(r'id="on-call-now".*?</p>', html, flags=re.S)
    assert now and "Dr Derek Moss (backup)" in now.group(0) and "Ermine" not in now.group(0)
    # Nobody from Friday's end of office hours to Monday morning: Dana is disabled and
    # Derek away all weekend.
    assert "urgent dermatology uncovered Fri 17:00–Mon 08:00" in warnings(html)
    assert "Dr Derek Moss away" in html


async def test_copy_last_week_moves_shifts_on_the_wall_clock(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    staff = await client_for(personas.staff)
    for starts, ends in (("2026-03-07T20:00", "2026-03-08T08:00"),
                         ("2026-03-04T08:00", "2026-03-04T12:00")):
        assert (await staff.post("/api/v1/rota/dermatology/shifts", json={
            "specialist": personas.derm.email, "starts_at": starts, "ends_at": ends,
            "tier": "primary"})).status_code == 201
    r = await staff.post("/rota", headers={"X-CSRF-Token": ""}, data={
        "csrf_token": staff.headers["X-CSRF-Token"], "action": "copy_week",
        "specialty": "dermatology", "week": "2026-03-09"})
    assert r.status_code == 303 and "copied=2" in r.headers["location"]
    page = await staff.get(r.headers["location"])
    assert "(2 copied)" in page.text
    async with db.read() as session:
        copied = list((await session.execute(select(RotaShift).where(
            col(RotaShift.starts_at) >= datetime(2026, 3, 9, tzinfo=UTC))
            .order_by(col(RotaShift.starts_at)))).scalars())
    # 20:00 PST on the 7th was 04:00Z; a week later, across the DST change, 20:00 PDT is 03:00Z.
    assert [(s.starts_at, s.ends_at) for s in copied] == [
        (datetime(2026, 3, 11, 15, tzinfo=UTC), datetime(2026, 3, 11, 19, tzinfo=UTC)),
        (datetime(2026, 3, 15, 3, tzinfo=UTC), datetime(2026, 3, 15, 15, tzinfo=UTC))]
    again = await staff.post("/rota", headers={"X-CSRF-Token": ""}, data={
        "csrf_token": staff.headers["X-CSRF-Token"], "action": "copy_week",
        "specialty": "dermatology", "week": "2026-03-09"})
    assert "copied=0" in again.headers["location"]  # nothing twice
    async with db.read() as session:
        detail = (await session.execute(select(col(AuditEvent.detail)).where(
            col(AuditEvent.action) == "rota.shift.copy_week"))).scalars().all()
    assert detail == ["week=2026-03-09 copied=2 skipped=0", "week=2026-03-09 copied=0 skipped=2"]


async def test_caps_set_on_the_rota_page_steer_routing(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    from tests.factories import put_on_call

    await put_on_call(db, personas.derm, "dermatology", clock.now())
    await put_on_call(db, personas.derm2, "dermatology", clock.now(), tier=Tier.BACKUP)
    staff, gp = await client_for(personas.staff), await client_for(personas.gp)
    r = await _form(staff, "set_specialist_cap", specialist=personas.derm.email, cap="1")
    assert r.status_code == 303
    assert ok(await submit(gp), 201)["assigned_to"] == personas.derm.id
    assert ok(await submit(gp), 201)["assigned_to"] == personas.derm2.id  # derm at own cap
    r = await _form(staff, "set_specialty_cap", cap="1")
    assert r.status_code == 303
    assert ok(await submit(gp), 201)["state"] == "pooled"  # everyone at the specialty cap
    bad = await _form(staff, "set_specialty_cap", cap="lots")
    assert bad.status_code == 400 and "whole number" in bad.text
    page = (await staff.get(PAGE)).text
    assert 'id="cap-specialty" name="cap" inputmode="numeric" pattern="[0-9]*" value="1"' in page
    r = await _form(staff, "set_specialty_cap", cap="")
    async with db.read() as session:
        spec = await session.get(Specialty, "dermatology")
        derm = await session.get(User, personas.derm.id)
    assert spec is not None and spec.open_cap is None
    assert derm is not None and derm.open_cap == 1


async def test_a_specialists_calendar_feed_is_secret_and_holds_no_patient_data(
        client_for: ClientFor, personas: Personas, db: Database,
        anon: httpx.AsyncClient) -> None:
    await demo_rota(db, personas)
    gp = await client_for(personas.gp)
    ok(await submit(gp), 201)
    derm = await client_for(personas.derm)
    csrf = derm.headers.pop("X-CSRF-Token")
    r = await derm.post("/account", data={"csrf_token": csrf, "action": "calendar_link"})
    found = re.search(r'id="calendar-url">[^<]*(/calendar/[A-Za-z0-9_-]+\.ics)<', r.text)
    assert found, r.text
    feed = await anon.get(found.group(1))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(feed.content)
    events = [e for e in cal.walk("VEVENT")]
    summaries = {str(e.get("summary")) for e in events}
    assert summaries == {"On call: Dermatology (primary)"}
    assert len(events) >= 5 * 8  # weekdays 08-17 and 17-22 join, over about 9 weeks
    for secret in (FORM["patient_name"], FORM["question"][:15], "9876"):
        assert secret not in feed.text
    again = await derm.post("/account", data={"csrf_token": csrf, "action": "calendar_link"})
    assert "the old one stops working" in again.text
    assert (await anon.get(found.group(1))).status_code == 404  # the old address is dead
    for who in (personas.gp, personas.staff):
        client = await client_for(who)
        token = client.headers.pop("X-CSRF-Token")
        r = await client.post("/account", data={"csrf_token": token,
                                                "action": "calendar_link"})
        assert r.status_code == 404
    assert (await anon.get("/calendar/nope.ics")).status_code == 404


@pytest.mark.parametrize("week", ["2026-03-02"])
async def test_the_rota_page_keeps_an_include_point_for_the_replay_panel(
        client_for: ClientFor, personas: Personas, week: str) -> None:
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "web/templates/rota.html").read_text()
    assert '{% include "rota_replay.html" ignore missing %}' in template
    staff = await client_for(personas.staff)
    assert (await staff.get(f"/rota?specialty=dermatology&week={week}")).status_code == 200
