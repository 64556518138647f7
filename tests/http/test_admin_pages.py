"""The admin users page and the login page, driven as a browser would (forms, redirects)."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent, User
from tests.conftest import ClientFor
from tests.factories import PASSWORD, Personas

NEW_PASSWORD = "blue-kettle-morning-42"


async def admin_form_client(client_for: ClientFor, personas: Personas) -> tuple[
        httpx.AsyncClient, str]:
    """An admin client that sends its CSRF token the way the page does: as a form field."""
    client = await client_for(personas.admin)
    return client, client.headers.pop("X-CSRF-Token")


async def user_count(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def test_admin_sees_every_user(client_for: ClientFor, personas: Personas) -> None:
    admin = await client_for(personas.admin)
    page = await admin.get("/admin/users")
    assert page.status_code == 200
    for user in personas.all().values():
        assert user.email in page.text
        assert html.escape(user.name) in page.text
    assert "All accounts (7)" in page.text
    assert "argon2" not in page.text  # hashes never reach a page


async def test_admin_adds_a_user_who_can_then_log_in(client_for: ClientFor, personas: Personas,
                                                     anon: httpx.AsyncClient,
                                                     db: Database) -> None:
    admin, csrf = await admin_form_client(client_for, personas)
    r = await admin.post("/admin/users", data={
        "csrf_token": csrf, "name": "Dr Nora Neuro", "email": "Nora@Example.org",
        "role": "specialist", "specialties": ["neurology", "psychiatry"],
        "password": NEW_PASSWORD,
    })
    assert r.status_code == 303
    assert r.headers["location"].startswith("/admin/users?done=added&user=")
    listing = await admin.get(r.headers["location"])
    assert "nora@example.org" in listing.text and "neurology, psychiatry" in listing.text
    assert "Added nora@example.org" in listing.text

    login = await anon.post("/login", data={"email": "nora@example.org",
                                            "password": NEW_PASSWORD})
    assert login.status_code == 303 and login.headers["location"] == "/queue"
    me = (await anon.get("/api/v1/me")).json()["user"]
    assert me["role"] == "specialist" and me["specialties"] == ["neurology", "psychiatry"]
    async with db.read() as session:
        actions = list((await session.execute(select(col(AuditEvent.action)).where(
            col(AuditEvent.actor_id) == personas.admin.id))).scalars())
    assert "user.create" in actions


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"email": "new@example.org", "role": "gp", "password": "short"}, 400, "at least 12"),
    ({"email": "new@example.org", "role": "gp", "password": "qwertyuiop123"}, 400,
     "too common"),
    ({"email": "gp@example.org", "role": "gp", "password": NEW_PASSWORD}, 409,
     "already exists"),
    ({"email": "new@example.org", "role": "specialist", "password": NEW_PASSWORD}, 400,
     "at least one specialty"),
    ({"email": "new@example.org", "role": "gp", "password": NEW_PASSWORD,
      "specialties": ["cardiology"]}, 400, "Only specialists"),
    ({"email": "not-an-email", "role": "gp", "password": NEW_PASSWORD}, 400, "valid email"),
    ({"email": "new@example.org", "role": "wizard", "password": NEW_PASSWORD}, 400,
     "Role must be"),
])
async def test_bad_new_user_rerenders_the_form_and_creates_nothing(
        client_for: ClientFor, personas: Personas, db: Database,
        fields: dict[str, object], status: int, message: str) -> None:
    admin, csrf = await admin_form_client(client_for, personas)
    before = await user_count(db)
    r = await admin.post("/admin/users", data={"csrf_token": csrf, "name": "Dr Noor Newman",
                                               **fields})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert message in html.unescape(r.text)
    assert 'role="alert"' in r.text
    assert 'value="Dr Noor Newman"' in r.text  # what was typed is kept
    assert f'value="{fields["email"]}"' in r.text
    if fields["role"] in ("gp", "specialist"):
        assert f'value="{fields["role"]}" selected' in r.text
    specialties = fields.get("specialties", [])
    assert isinstance(specialties, list)
    for slug in specialties:
        assert f'value="{slug}"\n        checked' in r.text
    assert str(fields["password"]) not in r.text
    assert await user_count(db) == before


async def test_disabling_a_user_ends_their_sessions_and_is_audited(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    gp = await client_for(personas.gp)
    gp_phone = await client_for(personas.gp)  # a second live session
    assert (await gp.get("/api/v1/me")).status_code == 200
    admin, csrf = await admin_form_client(client_for, personas)
    r = await admin.post(f"/admin/users/{personas.gp.id}/active",
                         data={"csrf_token": csrf, "active": "0"})
    assert r.status_code == 303
    assert (await gp.get("/api/v1/me")).status_code == 401
    assert (await gp_phone.get("/api/v1/me")).status_code == 401
    async with db.read() as session:
        event = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "user.disable"))).scalar_one()
    assert event.actor_id == personas.admin.id and event.object_id == str(personas.gp.id)
    assert event.detail == "sessions_revoked=2 consults_moved=0"
    page = await admin.get("/admin/users")
    assert "disabled" in page.text

    r = await admin.post(f"/admin/users/{personas.gp.id}/active",
                         data={"csrf_token": csrf, "active": "1"})
    assert r.status_code == 303
    assert (await gp.get("/api/v1/me")).status_code == 401  # old sessions stay dead


async def test_admin_cannot_disable_themself(client_for: ClientFor, personas: Personas,
                                             db: Database) -> None:
    admin, csrf = await admin_form_client(client_for, personas)
    r = await admin.post(f"/admin/users/{personas.admin.id}/active",
                         data={"csrf_token": csrf, "active": "0"})
    assert r.status_code == 409
    assert "cannot disable your own account" in r.text
    assert (await admin.get("/api/v1/me")).status_code == 200
    async with db.read() as session:
        admin_row = await session.get(User, personas.admin.id)
    assert admin_row is not None and admin_row.active


async def test_unknown_user_id_is_404(client_for: ClientFor, personas: Personas) -> None:
    admin = await client_for(personas.admin)
    for user_id in ("999999", "abc"):
        r = await admin.post(f"/admin/users/{user_id}/active", data={"active": "0"})
        assert r.status_code == 404


@pytest.mark.parametrize("persona", ["gp", "other_gp", "derm", "cardio", "staff"])
async def test_non_admins_get_404(client_for: ClientFor, personas: Personas, db: Database,
                                  persona: str) -> None:
    client = await client_for(personas.all()[persona])
    before = await user_count(db)
    assert (await client.get("/admin/users")).status_code == 404
    r = await client.post("/admin/users", data={
        "name": "Mallory", "email": "mallory@example.org", "role": "admin",
        "password": NEW_PASSWORD})
    assert r.status_code == 404
    r = await client.post(f"/admin/users/{personas.admin.id}/active", data={"active": "0"})
    assert r.status_code == 404
    assert await user_count(db) == before
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_login_page_shows_an_error_for_bad_credentials(anon: httpx.AsyncClient,
                                                             personas: Personas) -> None:
    page = await anon.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    r = await anon.post("/login", data={"email": "gp@example.org",
                                        "password": "not-the-password-at-all"})
    assert r.status_code == 401
    assert "Email or password is incorrect." in r.text
    assert 'value="gp@example.org"' in r.text and "not-the-password-at-all" not in r.text
    assert "set-cookie" not in r.headers
    empty = await anon.post("/login", data={"email": "gp@example.org"})
    assert empty.status_code == 400 and "Enter your email and password" in empty.text


@pytest.mark.parametrize(("persona", "home"), [
    ("gp", "/consults"), ("derm", "/queue"), ("staff", "/dashboard"), ("admin", "/admin/users"),
])
async def test_login_redirects_by_role(anon: httpx.AsyncClient, personas: Personas,
                                       persona: str, home: str) -> None:
    email = personas.all()[persona].email
    r = await anon.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == home
    assert (await anon.get("/api/v1/me")).json()["user"]["email"] == email
    assert (await anon.get("/login")).status_code == 303  # already logged in


async def test_login_follows_a_local_next(anon: httpx.AsyncClient, personas: Personas) -> None:
    query = {"done": "enabled", "user": str(personas.gp.id)}
    redirect = await anon.get("/admin/users", params=query)
    location = urlsplit(redirect.headers["location"])
    assert location.path == "/login"
    next_path = parse_qs(location.query)["next"][0]
    # the query survives the detour
    assert next_path == f"/admin/users?done=enabled&user={personas.gp.id}"
    page = await anon.get(redirect.headers["location"])
    assert f'name="next" value="{html.escape(next_path)}"' in page.text
    r = await anon.post("/login", data={"email": "admin@example.org", "password": PASSWORD,
                                        "next": next_path})
    assert r.status_code == 303 and r.headers["location"] == next_path
    assert "Enabled gp@example.org" in (await anon.get(r.headers["location"])).text


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/login", "/\\evil.example", "https://evil.example/",
    "http:/evil.example", "javascript:alert(1)", "evil.example",
])
async def test_next_never_leaves_the_site(anon: httpx.AsyncClient, personas: Personas,
                                          target: str) -> None:
    page = await anon.get("/login", params={"next": target})
    assert "evil.example" not in page.text and "javascript:" not in page.text
    r = await anon.post("/login", data={"email": "gp@example.org", "password": PASSWORD,
                                        "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/consults"


async def test_a_crafted_link_cannot_put_words_on_the_admin_page(
    client_for: ClientFor, personas: Personas
) -> None:
    admin = await client_for(personas.admin)
    page = await admin.get("/admin/users", params={"notice": "Call 555-0100 to verify",
                                                   "done": "Your account is locked",
                                                   "user": "1"})
    assert page.status_code == 200
    assert "555-0100" not in page.text and "locked" not in page.text
