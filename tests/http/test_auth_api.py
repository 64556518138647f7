"""Login, sessions and CSRF, tested from the attacker's side as well as the user's."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import PASSWORD, Personas


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_login_returns_user_csrf_and_a_hardened_cookie(anon: httpx.AsyncClient,
                                                             personas: Personas) -> None:
    response = await login(anon, "GP@example.org ")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == "gp@example.org"
    assert body["user"]["role"] == "gp"
    assert len(body["csrf_token"]) >= 32
    assert "password" not in response.text and "argon2" not in response.text
    cookie = response.headers["set-cookie"]
    assert "econsult_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    me = await anon.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["user"]["id"] == personas.gp.id


async def test_bad_credentials_get_one_message(anon: httpx.AsyncClient, personas: Personas) -> None:
    wrong_password = await login(anon, "gp@example.org", "not-the-password-at-all")
    unknown_email = await login(anon, "nobody@example.org", "not-the-password-at-all")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert "set-cookie" not in wrong_password.headers


async def test_disabled_account_cannot_log_in(anon: httpx.AsyncClient, personas: Personas,
                                              client_for: ClientFor) -> None:
    admin = await client_for(personas.admin)
    r = await admin.post(f"/admin/users/{personas.gp.id}/active", data={"active": "0"})
    assert r.status_code == 303
    assert (await login(anon, "gp@example.org")).status_code == 401


async def test_repeated_failures_are_throttled_with_retry_after(
    anon: httpx.AsyncClient, personas: Personas, clock: ManualClock
) -> None:
    for _ in range(5):
        assert (await login(anon, "gp@example.org", "wrong-password-guess")).status_code == 401
    throttled = await login(anon, "gp@example.org")  # even the right password now
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert throttled.json()["error"]["code"] == "rate_limited"
    clock.advance(timedelta(minutes=16))
    assert (await login(anon, "gp@example.org")).status_code == 200


async def test_address_throttle_stops_spraying_many_accounts(anon: httpx.AsyncClient,
                                                             personas: Personas) -> None:
    for i in range(20):
        await login(anon, f"victim{i}@example.org", "wrong-password-guess")
    assert (await login(anon, "gp@example.org")).status_code == 429


async def test_every_login_success_and_failure_is_audited(anon: httpx.AsyncClient,
                                                          personas: Personas,
                                                          db: Database) -> None:
    await login(anon, "gp@example.org", "wrong-password-guess")
    await login(anon, "gp@example.org")
    async with db.read() as session:
        rows = (await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "auth.login").order_by(col(AuditEvent.id)))).scalars().all()
    assert [r.outcome for r in rows] == ["failed", "ok"]
    assert all(r.client_addr == "127.0.0.1" for r in rows)
    assert all(PASSWORD not in r.detail for r in rows)


async def test_logout_revokes_the_token_on_the_server(anon: httpx.AsyncClient,
                                                      personas: Personas) -> None:
    response = await login(anon, "gp@example.org")
    csrf = response.json()["csrf_token"]
    stolen = anon.cookies.get("econsult_session")
    assert (await anon.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
            ).status_code == 204
    anon.cookies.set("econsult_session", stolen or "")  # replay the old cookie
    assert (await anon.get("/api/v1/me")).status_code == 401


async def test_new_token_at_each_login_and_the_old_one_revoked(anon: httpx.AsyncClient,
                                                                 personas: Personas) -> None:
    first = (await login(anon, "gp@example.org")).cookies["econsult_session"]
    second = (await login(anon, "gp@example.org")).cookies["econsult_session"]
    assert second != first
    anon.cookies.clear()
    anon.cookies.set("econsult_session", first)
    assert (await anon.get("/api/v1/me")).status_code == 401
    anon.cookies.set("econsult_session", second)
    assert (await anon.get("/api/v1/me")).status_code == 200


async def test_idle_timeout_logs_out(client_for: ClientFor, personas: Personas,
                                     clock: ManualClock) -> None:
    client = await client_for(personas.gp)
    clock.advance(timedelta(minutes=14))
    assert (await client.get("/api/v1/me")).status_code == 200  # activity refreshes
    clock.advance(timedelta(minutes=14))
    assert (await client.get("/api/v1/me")).status_code == 200
    clock.advance(timedelta(minutes=15, seconds=1))
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_absolute_lifetime_ends_even_an_active_session(client_for: ClientFor,
                                                             personas: Personas,
                                                             clock: ManualClock) -> None:
    client = await client_for(personas.gp)
    opened = clock.now()
    for _ in range(12 * 6):
        clock.advance(timedelta(minutes=10))  # activity well inside the idle timeout
        if (await client.get("/api/v1/me")).status_code != 200:
            break
    else:
        raise AssertionError("session outlived its 12 hour lifetime")
    # It ended at the lifetime, not before: every request up to 11:50 was served.
    assert clock.now() - opened == timedelta(hours=12)


async def test_unauthenticated_api_is_401_and_pages_redirect(anon: httpx.AsyncClient) -> None:
    r = await anon.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    page = await anon.get("/admin/users")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_forged_cookie_is_not_a_session(anon: httpx.AsyncClient, personas: Personas) -> None:
    anon.cookies.set("econsult_session", "A" * 43)
    assert (await anon.get("/api/v1/me")).status_code == 401


async def test_post_without_csrf_token_is_refused(client_for: ClientFor,
                                                  personas: Personas) -> None:
    client = await client_for(personas.gp)
    del client.headers["X-CSRF-Token"]
    r = await client.post("/api/v1/auth/logout")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf"
    assert (await client.get("/api/v1/me")).status_code == 200  # nothing changed


async def test_forged_csrf_token_is_refused(client_for: ClientFor, personas: Personas) -> None:
    gp = await client_for(personas.gp)
    other = await client_for(personas.other_gp)
    # another session's valid token is still a forgery for this one
    forged = {"X-CSRF-Token": other.headers["X-CSRF-Token"]}
    r = await gp.post("/api/v1/auth/logout", headers=forged)
    assert r.status_code == 403


async def test_csrf_token_in_a_form_field_is_accepted(client_for: ClientFor,
                                                      personas: Personas) -> None:
    client = await client_for(personas.gp)
    token = client.headers.pop("X-CSRF-Token")
    assert (await client.post("/logout", data={"csrf_token": "forged"})).status_code == 403
    r = await client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_cross_origin_post_is_refused_even_with_the_token(client_for: ClientFor,
                                                                personas: Personas) -> None:
    client = await client_for(personas.gp)
    r = await client.post("/api/v1/auth/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "bad_origin"
    r = await client.post("/api/v1/auth/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = await client.post("/api/v1/auth/logout", headers={"Origin": "http://testserver"})
    assert r.status_code == 204


async def test_cross_origin_login_is_refused(anon: httpx.AsyncClient, personas: Personas) -> None:
    r = await anon.post("/api/v1/auth/login", json={"email": "gp@example.org",
                                                    "password": PASSWORD},
                        headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


async def test_get_changes_nothing(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/v1/auth/login")).status_code == 405
    assert (await anon.get("/logout")).status_code == 405


async def test_malformed_login_bodies_get_clear_4xx(anon: httpx.AsyncClient) -> None:
    r = await anon.post("/api/v1/auth/login", content=b"{not json",
                        headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    r = await anon.post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "password"
    r = await anon.post("/api/v1/auth/login", json=["x"])
    assert r.status_code == 400
    r = await anon.post("/api/v1/auth/login", data={"email": "x"})
    assert r.status_code == 415


async def test_origin_null_passes_only_when_the_browser_says_same_origin(
    client_for: ClientFor, personas: Personas
) -> None:
    client = await client_for(personas.gp)
    refused = await client.post("/api/v1/auth/logout", headers={"Origin": "null"})
    assert refused.status_code == 403
    refused = await client.post("/api/v1/auth/logout",
                                headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    allowed = await client.post("/api/v1/auth/logout",
                                headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert allowed.status_code == 204
