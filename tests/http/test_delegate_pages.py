"""Delegates on the pages: an admin links them to GPs (/admin/users, audited), and a
delegate's bar, home, form, list and thread; the GP sees who sent what. Also their
socket: it hears their GPs' consults and, once unlinked, stops."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.accounts import delegates
from econsult.clock import ManualClock
from econsult.db import Database
from econsult.http import ws
from econsult.models import AuditEvent, DelegateLink, Role, User
from econsult.security.audit import Actor
from econsult.security.policy import Principal
from tests.conftest import ClientFor
from tests.factories import Personas, make_delegate, ok, put_on_call, submit
from tests.http.test_admin_pages import NEW_PASSWORD, admin_form_client
from tests.http.test_ws import Connect, connect  # noqa: F401  (the in-process socket fixture)


async def links_of(db: Database, delegate_id: int) -> set[int]:
    async with db.read() as session:
        return set((await session.execute(select(col(DelegateLink.gp_id)).where(
            col(DelegateLink.delegate_id) == delegate_id))).scalars())


async def audit_details(db: Database, action: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == action).order_by(col(AuditEvent.id)))).scalars()
        return [(r.object_id, r.detail) for r in rows]


async def test_admin_adds_a_delegate_for_a_gp_then_changes_their_gps(
    client_for: ClientFor, personas: Personas, db: Database
) -> None:
    admin, csrf = await admin_form_client(client_for, personas)
    form = await admin.get("/admin/users")
    assert '<option value="delegate"' in form.text
    assert f'name="delegate_for" value="{personas.gp.email}"' in form.text
    r = await admin.post("/admin/users", data={
        "csrf_token": csrf, "name": "Dee Lewis", "email": "dee@clinic.example",
        "role": "delegate", "delegate_for": [personas.gp.email], "password": NEW_PASSWORD})
    assert r.status_code == 303, r.text
    async with db.read() as session:
        dee = (await session.execute(select(User).where(
            col(User.email) == "dee@clinic.example"))).scalar_one()
    dee_id = dee.id or 0
    assert await links_of(db, dee_id) == {personas.gp.id}
    assert await audit_details(db, "delegate.link") == [(str(dee_id), f"gp={personas.gp.id}")]
    page = await admin.get("/admin/users")
    section = page.text[page.text.index('id="delegates"'):]
    assert f'action="/admin/users/{dee_id}/delegates"' in section
    assert re.search(rf'value="{personas.gp.id}"\s+checked', section)
    assert not re.search(rf'value="{personas.other_gp.id}"\s+checked', section)

    # Now for the other GP instead: one link added, one removed, each audited.
    r = await admin.post(f"/admin/users/{dee_id}/delegates",
                         data={"csrf_token": csrf, "gp": [str(personas.other_gp.id)]})
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/users?done=linked&user={dee_id}"
    assert "Saved the GPs of dee@clinic.example" in (await admin.get(r.headers["location"])).text
    assert await links_of(db, dee_id) == {personas.other_gp.id}
    assert (await audit_details(db, "delegate.link"))[-1] == (str(dee_id),
                                                               f"gp={personas.other_gp.id}")
    assert await audit_details(db, "delegate.unlink") == [(str(dee_id), f"gp={personas.gp.id}")]


@pytest.mark.parametrize(("fields", "message"), [
    ({"role": "delegate"}, "works for at least one GP"),
    ({"role": "delegate", "delegate_for": ["derm1@example.org"]}, "No GP account"),
    ({"role": "delegate", "delegate_for": ["ghost@example.org"]}, "No GP account"),
    ({"role": "gp", "delegate_for": ["gp@example.org"]}, "Only delegates work for GPs"),
])
async def test_a_bad_delegate_is_refused_and_nothing_is_created(
    client_for: ClientFor, personas: Personas, db: Database, fields: dict[str, object],
    message: str
) -> None:
    admin, csrf = await admin_form_client(client_for, personas)
    r = await admin.post("/admin/users", data={
        "csrf_token": csrf, "name": "Dee Lewis", "email": "dee@clinic.example",
        "password": NEW_PASSWORD, **fields})
    assert r.status_code == 400
    assert message in html.unescape(r.text)
    for email in fields.get("delegate_for", []):  # type: ignore[attr-defined]
        if email == personas.gp.email:
            assert re.search(rf'value="{email}"\s+checked', r.text)  # kept as ticked
    async with db.read() as session:
        assert (await session.execute(select(User).where(
            col(User.email) == "dee@clinic.example"))).first() is None


async def test_links_are_refused_for_non_gps_non_delegates_and_non_admins(
    client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock
) -> None:
    dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                              gps=(personas.gp,))
    admin, csrf = await admin_form_client(client_for, personas)
    for value in (str(personas.derm.id), "abc", "0"):
        r = await admin.post(f"/admin/users/{dee.id}/delegates",
                             data={"csrf_token": csrf, "gp": [value]})
        assert r.status_code == 400 and "Choose GPs from the list" in r.text, value
    r = await admin.post(f"/admin/users/{personas.staff.id}/delegates",
                         data={"csrf_token": csrf, "gp": [str(personas.gp.id)]})
    assert r.status_code == 404 and "No such delegate" in r.text
    gp = await client_for(personas.gp)
    r = await gp.post(f"/admin/users/{dee.id}/delegates", data={"gp": [str(personas.gp.id)]})
    assert r.status_code == 404
    assert await links_of(db, dee.id or 0) == {personas.gp.id}
    assert await audit_details(db, "delegate.unlink") == []


async def test_a_delegates_bar_home_form_list_and_thread(
    client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock,
    anon: httpx.AsyncClient
) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                              gps=(personas.gp, personas.other_gp))
    me = await client_for(dee)
    assert (await me.get("/")).headers["location"] == "/consults"
    form = await me.get("/consults/new")
    bar = form.text[form.text.index('<nav aria-label="Main">'):form.text.index("</nav>")]
    assert re.findall(r'<a href="([^"]+)">', bar) == ["/consults/new", "/consults", "/account"]
    select_gp = form.text[form.text.index('<select id="gp" name="gp"'):]
    select_gp = select_gp[:select_gp.index("</select>")]
    assert f'<option value="{personas.gp.email}">{html.escape(personas.gp.name)}</option>' in \
        select_gp
    assert personas.other_gp.email in select_gp and '<option value="">Choose' in select_gp
    gp = await client_for(personas.gp)
    assert 'id="gp"' not in (await gp.get("/consults/new")).text  # a GP sends as themselves

    sent = ok(await submit(me, gp=personas.gp.email, patient_name="Pat Delegated"), 201)
    ok(await submit(gp, patient_name="Gail's Own"), 201)
    ok(await submit(me, gp=personas.other_gp.email, patient_name="Omar's Patient"), 201)
    mine = (await me.get("/consults")).text
    assert "You work for" in mine and html.escape(personas.other_gp.name) in mine
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r'<tr data-id="([^"]+)">.*?</tr>', mine, re.S)}
    assert len(rows) == 3
    gp_cell = f'<td class="gp" data-label="GP">{html.escape(personas.gp.name)}'
    assert re.search(rf"Pat Delegated.*by you.*{gp_cell}", rows[sent["id"]], re.S)
    own_row = next(r for r in rows.values() if "Gail&#39;s Own" in r)
    assert "by " not in own_row.split('<td class="gp"')[0]  # the GP sent it herself
    theirs = (await gp.get("/consults")).text
    assert "Omar" not in theirs and 'class="gp"' not in theirs
    assert re.search(r"Pat Delegated.*by Dee Lewis", theirs, re.S)
    thread = (await gp.get(f"/consults/{sent['id']}")).text
    assert re.search(r'id="sent-by">Dee Lewis <small>\(delegate, for', thread)
    delegate_thread = (await me.get(f"/consults/{sent['id']}")).text
    assert 'id="reply-form"' in delegate_thread and "Pat Delegated" in delegate_thread
    # A delegate has no queue, dashboard, rota or admin pages.
    for path in ("/queue", "/dashboard", "/rota", "/admin/users"):
        assert (await me.get(path)).status_code == 404, path
    assert (await anon.get("/consults")).status_code == 303


async def test_a_delegates_socket_hears_their_gps_consults_until_unlinked(
    monkeypatch: pytest.MonkeyPatch, app: Starlette, connect: Connect,  # noqa: F811
    personas: Personas, db: Database, clock: ManualClock, client_for: ClientFor
) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                              gps=(personas.gp,))
    olly = await make_delegate(db, clock, email="olly@clinic.example", name="Olly Other",
                               gps=(personas.other_gp,))
    dee_socket, olly_socket = await connect(dee), await connect(olly)
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    heard = await dee_socket.events(2)
    assert [(e["type"], e["consult_id"]) for e in heard] == [("submitted", cid),
                                                              ("assigned", cid)]
    assert all("patient" not in str(e) for e in heard)
    assert olly_socket.from_app.empty()
    # Unlinked: the next heartbeat tells the page to reconnect with what it may hear now.
    monkeypatch.setattr(ws, "HEARTBEAT_SECONDS", 0.05)
    late = await connect(dee)
    await delegates.set_links(db, delegate_id=dee.id or 0, gp_ids=[],
                              actor=Actor(personas.admin.id, personas.admin.email), clock=clock,
                              by=Principal(personas.admin.id or 0, Role.admin))
    message = await late.receive_json()
    while message == {"type": "ping"}:  # a heartbeat may come before the change
        message = await late.receive_json()
    assert message == {"type": "resync"}
    assert await late.next_message() == {"type": "websocket.close", "code": 4000, "reason": ""}
    again = await connect(dee)
    ok(await submit(gp), 201)
    # Nothing of the GP's any more: heartbeats only, well after the events went out.
    assert [await again.receive_json() for _ in range(3)] == [{"type": "ping"}] * 3
