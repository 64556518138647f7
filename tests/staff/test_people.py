"""People on /admin/users and one's own /account: finding, sessions, password resets."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent, PasswordReset, Role
from tests.conftest import ClientFor
from tests.factories import PASSWORD, Personas

NEW_PASSWORD = "amber-lantern-harbour-77"


async def _form_client(client_for: ClientFor, user: object) -> tuple[httpx.AsyncClient, str]:
    client = await client_for(user)  # type: ignore[arg-type]
    return client, client.headers.pop("X-CSRF-Token")


async def _actions(db: Database) -> list[str]:
    async with db.read() as session:
        return list((await session.execute(select(col(AuditEvent.action))
                                           .order_by(col(AuditEvent.id)))).scalars())


async def test_search_and_filter_by_any_role_with_last_login(
        client_for: ClientFor, personas: Personas, anon: httpx.AsyncClient) -> None:
    admin = await client_for(personas.admin)
    page = (await admin.get("/admin/users")).text
    for role in Role:  # every role the model knows is offered, whatever it holds
        assert f'<option value="{role.value}"' in page
    r = await admin.get("/admin/users?q=derm")
    rows = re.findall(r'data-user="(\d+)"', r.text)
    assert sorted(map(int, rows)) == sorted([personas.derm.id or 0, personas.derm2.id or 0])
    assert "Matching accounts (2)" in r.text
    r = await admin.get("/admin/users?role=gp")
    assert sorted(map(int, re.findall(r'data-user="(\d+)"', r.text))) == sorted(
        [personas.gp.id or 0, personas.other_gp.id or 0])
    r = await admin.get("/admin/users?q=%25")  # a wildcard typed is a character sought
    assert "Nobody matches." in r.text
    assert (await admin.get("/admin/users?q=Moss")).text.count('data-user="') == 1
    # A real login shows as the last login.
    assert (await anon.post("/login", data={"email": personas.other_gp.email,
                                            "password": PASSWORD})).status_code == 303
    r = await admin.get("/admin/users?role=gp")
    cells = dict(re.findall(r'data-user="(\d+)">.*?<td>([^<]*(?:never|2026)[^<]*)</td>',
                            r.text, flags=re.S))
    assert cells[str(personas.gp.id)] == "never"
    assert cells[str(personas.other_gp.id)].startswith("Mon 02 Mar 2026")


async def test_admin_sees_and_ends_someones_sessions(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    gp_laptop, gp_phone = await client_for(personas.gp), await client_for(personas.gp)
    admin, csrf = await _form_client(client_for, personas.admin)
    page = await admin.get(f"/admin/users/{personas.gp.id}")
    assert "Sessions (2)" in page.text
    session_ids = re.findall(r'name="session" value="(\d+)"', page.text)
    r = await admin.post(f"/admin/users/{personas.gp.id}", data={
        "csrf_token": csrf, "action": "revoke_session", "session": session_ids[0]})
    assert r.status_code == 200 and "Session ended." in r.text and "Sessions (1)" in r.text
    statuses = sorted([(await c.get("/api/v1/me")).status_code for c in (gp_laptop, gp_phone)])
    assert statuses == [200, 401]
    r = await admin.post(f"/admin/users/{personas.gp.id}", data={
        "csrf_token": csrf, "action": "revoke_session", "session": session_ids[0]})
    assert r.status_code == 404  # already ended
    other = await client_for(personas.staff)
    assert (await other.get(f"/admin/users/{personas.gp.id}")).status_code == 404
    assert "session.revoke" in await _actions(db)


async def test_a_one_time_reset_link_works_once(
        client_for: ClientFor, personas: Personas, anon: httpx.AsyncClient,
        db: Database) -> None:
    victim = await client_for(personas.derm)
    admin, csrf = await _form_client(client_for, personas.admin)
    r = await admin.post(f"/admin/users/{personas.derm.id}",
                         data={"csrf_token": csrf, "action": "reset_link"})
    assert r.status_code == 200
    link = re.search(r'id="once-value">[^<]*(/reset/[A-Za-z0-9_-]+)<', r.text)
    assert link, r.text
    path = link.group(1)
    assert (await victim.get("/api/v1/me")).status_code == 401  # sessions ended
    async with db.read() as session:
        stored = (await session.execute(select(PasswordReset))).scalar_one()
    assert path.split("/")[-1] not in stored.token_hash  # only a hash is kept
    page = await anon.get(path)
    assert page.status_code == 200 and personas.derm.email in page.text
    bad = await anon.post(path, data={"new_password": "short", "again": "short"})
    assert bad.status_code == 400 and "at least 12" in html.unescape(bad.text)
    done = await anon.post(path, data={"new_password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert done.status_code == 303
    assert (await anon.get(path)).status_code == 404
    again = await anon.post(path, data={"new_password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert again.status_code == 404
    login = await anon.post("/api/v1/auth/login", json={"email": personas.derm.email,
                                                        "password": NEW_PASSWORD})
    assert login.status_code == 200
    assert (await anon.get("/reset/not-a-real-token")).status_code == 404
    actions = await _actions(db)
    assert "user.password_reset_link" in actions and "user.password_reset" in actions


async def test_a_temporary_password_must_be_changed_before_anything_else(
        client_for: ClientFor, personas: Personas, anon: httpx.AsyncClient,
        db: Database) -> None:
    admin, csrf = await _form_client(client_for, personas.admin)
    r = await admin.post(f"/admin/users/{personas.gp.id}",
                         data={"csrf_token": csrf, "action": "reset_temporary"})
    temporary = re.search(r'id="once-value">([a-z0-9-]+)<', r.text)
    assert temporary, r.text
    login = await anon.post("/login", data={"email": personas.gp.email,
                                            "password": temporary.group(1)})
    assert login.status_code == 303
    page = await anon.get("/consults")
    assert page.status_code == 303 and page.headers["location"] == "/account/password"
    api = await anon.get("/api/v1/consults", headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "password_change_required"
    assert (await anon.get("/api/v1/me")).status_code == 200
    form = await anon.get("/account/password")
    assert "temporary password" in form.text
    token = (await anon.get("/api/v1/me")).json()["csrf_token"]
    same = await anon.post("/account/password", data={
        "csrf_token": token, "current_password": temporary.group(1),
        "new_password": temporary.group(1), "again": temporary.group(1)})
    assert same.status_code == 400 and "different" in same.text
    changed = await anon.post("/account/password", data={
        "csrf_token": token, "current_password": temporary.group(1),
        "new_password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert changed.status_code == 303
    assert (await anon.get("/consults")).status_code == 200
    assert "user.password_temporary" in await _actions(db)


async def test_own_sessions_and_password_on_the_account_page(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    other = await client_for(personas.staff)
    me, csrf = await _form_client(client_for, personas.staff)
    page = await me.get("/account")
    assert page.status_code == 200 and "this session" in page.text
    assert 'id="outofoffice"' not in page.text and 'id="calendar"' not in page.text
    ids = re.findall(r'name="session" value="(\d+)"', page.text)
    assert len(ids) == 1  # the other one; this session has no button
    r = await me.post("/account", data={"csrf_token": csrf, "action": "revoke_session",
                                        "session": ids[0]})
    assert r.status_code == 303 and (await other.get("/api/v1/me")).status_code == 401
    wrong = await me.post("/account/password", data={
        "csrf_token": csrf, "current_password": "not it at all",
        "new_password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    ok = await me.post("/account/password", data={
        "csrf_token": csrf, "current_password": PASSWORD,
        "new_password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert ok.status_code == 303 and (await me.get("/api/v1/me")).status_code == 200
    # Someone else's session id is simply not found.
    stranger = await client_for(personas.gp)
    async with db.read() as session:
        from econsult.models import AuthSession
        theirs = (await session.execute(select(col(AuthSession.id)).where(
            col(AuthSession.user_id) == personas.gp.id))).scalars().first()
    r = await me.post("/account", data={"csrf_token": csrf, "action": "revoke_session",
                                        "session": str(theirs)})
    assert r.status_code == 404 and (await stranger.get("/api/v1/me")).status_code == 200
