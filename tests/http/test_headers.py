"""Security headers on every kind of answer, and the hardened cookie behind HTTPS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.http.state import app_state
from tests.conftest import ClientFor
from tests.factories import CHEAP_PASSWORDS, PASSWORD, Personas, make_personas


def csp_directives(response: httpx.Response) -> dict[str, list[str]]:
    policy = response.headers["content-security-policy"]
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_hardened(response: httpx.Response) -> None:
    csp = csp_directives(response)
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_pages_and_api_answers(anon: httpx.AsyncClient, client_for: ClientFor,
                                     personas: Personas) -> None:
    login = await anon.get("/login")
    assert login.status_code == 200 and login.headers["content-type"].startswith("text/html")
    assert_hardened(login)
    admin = await client_for(personas.admin)
    users = await admin.get("/admin/users")
    assert users.status_code == 200
    assert_hardened(users)
    me = await admin.get("/api/v1/me")
    assert me.status_code == 200
    assert_hardened(me)
    assert_hardened(await anon.get("/healthz"))
    assert_hardened(await anon.get("/api/v1/openapi.json"))


async def test_error_answers(anon: httpx.AsyncClient, client_for: ClientFor,
                             personas: Personas) -> None:
    unauthenticated = await anon.get("/api/v1/me")
    assert unauthenticated.status_code == 401
    assert_hardened(unauthenticated)
    redirect = await anon.get("/admin/users")
    assert redirect.status_code == 303
    assert_hardened(redirect)
    gp = await client_for(personas.gp)
    for path in ("/no-such-page", "/api/v1/no-such-thing", "/admin/users"):
        missing = await gp.get(path)
        assert missing.status_code == 404, path
        assert_hardened(missing)
    del gp.headers["X-CSRF-Token"]
    forbidden = await gp.post("/api/v1/auth/logout")
    assert forbidden.status_code == 403
    assert_hardened(forbidden)
    forbidden_page = await gp.post("/logout", data={"csrf_token": "forged"})
    assert forbidden_page.status_code == 403
    assert forbidden_page.headers["content-type"].startswith("text/html")
    assert_hardened(forbidden_page)
    wrong_method = await anon.get("/logout")
    assert wrong_method.status_code == 405
    assert_hardened(wrong_method)


async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.mark.parametrize("secure", [False, True])
async def test_server_errors_carry_the_headers_too(settings: Settings, clock: ManualClock,
                                                   secure: bool) -> None:
    # A 500 is answered by Starlette's ServerErrorMiddleware, outside every user middleware.
    application = create_app(settings.with_(cookie_secure=secure), clock=clock,
                             passwords=CHEAP_PASSWORDS)
    application.router.routes.insert(0, Route("/boom", _boom))
    application.router.routes.insert(0, Route("/api/v1/boom", _boom))
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=transport, base_url="http://testserver") as client:
        page = await client.get("/boom")
        api = await client.get("/api/v1/boom")
    assert page.status_code == api.status_code == 500
    assert "a bug" not in page.text and "a bug" not in api.text
    assert api.json()["error"]["code"] == "internal"
    for response in (page, api):
        assert_hardened(response)
        assert ("strict-transport-security" in response.headers) is secure


async def test_static_files_may_be_cached_but_keep_the_other_headers(
        anon: httpx.AsyncClient) -> None:
    css = await anon.get("/static/css/app.css")
    assert css.status_code == 200
    assert css.headers["cache-control"].startswith("public")
    assert css.headers["x-content-type-options"] == "nosniff"


async def test_no_hsts_over_plain_http(anon: httpx.AsyncClient) -> None:
    assert "strict-transport-security" not in (await anon.get("/login")).headers


@pytest.fixture
async def secure_app(settings: Settings, clock: ManualClock) -> AsyncIterator[Starlette]:
    application = create_app(settings.with_(cookie_secure=True), clock=clock,
                             passwords=CHEAP_PASSWORDS)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def https_client(secure_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=secure_app),
                                 base_url="https://testserver") as client:
        yield client


async def test_hsts_when_cookies_are_secure(secure_app: Starlette,
                                            https_client: httpx.AsyncClient) -> None:
    for path in ("/login", "/api/v1/me", "/no-such-page"):
        response = await https_client.get(path)
        hsts = response.headers["strict-transport-security"]
        assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000


async def test_host_prefixed_secure_cookie_at_api_login(secure_app: Starlette,
                                                        https_client: httpx.AsyncClient) -> None:
    ctx = app_state(secure_app)
    await make_personas(ctx.db, ctx.clock)
    response = await https_client.post("/api/v1/auth/login",
                                       json={"email": "gp@example.org", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-econsult_session=")
    attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes
    assert "samesite=lax" in attributes
    assert not any(a.startswith("domain=") for a in attributes)  # __Host- forbids Domain
    assert (await https_client.get("/api/v1/me")).status_code == 200
    # the unprefixed name is not a session when cookies are secure
    token = https_client.cookies["__Host-econsult_session"]
    https_client.cookies.clear()
    https_client.cookies.set("econsult_session", token)
    assert (await https_client.get("/api/v1/me")).status_code == 401
    https_client.cookies.clear()
    https_client.cookies.set("__Host-econsult_session", token)
    logout = await https_client.post("/api/v1/auth/logout",
                                     headers={"X-CSRF-Token": response.json()["csrf_token"]})
    assert logout.status_code == 204
    cleared = logout.headers["set-cookie"]
    assert cleared.startswith("__Host-econsult_session=") and "Secure" in cleared


async def test_host_prefixed_secure_cookie_at_page_login(secure_app: Starlette,
                                                         https_client: httpx.AsyncClient) -> None:
    ctx = app_state(secure_app)
    await make_personas(ctx.db, ctx.clock)
    response = await https_client.post("/login", data={"email": "admin@example.org",
                                                       "password": PASSWORD})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-econsult_session=") and "Secure" in cookie
