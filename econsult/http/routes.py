"""The route table: every URL the service answers, in one place."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from econsult.http import api_auth, pages_admin, pages_auth
from econsult.http.templating import WEB_DIR

_schemas = SchemaGenerator(
    {"openapi": "3.0.0", "info": {"title": "econsult API", "version": "1"},
     "servers": [{"url": "/api/v1"}]}
)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def openapi(request: Request) -> Response:
    schema = _schemas.get_schema(routes=api_routes())
    return JSONResponse(schema)


def api_routes() -> list[BaseRoute]:
    return [
        Route("/auth/login", api_auth.login, methods=["POST"]),
        Route("/auth/logout", api_auth.logout, methods=["POST"]),
        Route("/me", api_auth.me, methods=["GET"]),
    ]


def page_routes() -> list[BaseRoute]:
    return [
        Route("/", pages_auth.home, methods=["GET"]),
        Route("/login", pages_auth.login_page, methods=["GET"]),
        Route("/login", pages_auth.login_submit, methods=["POST"]),
        Route("/logout", pages_auth.logout_submit, methods=["POST"]),
        Route("/admin/users", pages_admin.users_page, methods=["GET"]),
        Route("/admin/users", pages_admin.add_user, methods=["POST"]),
        Route("/admin/users/{user_id}/active", pages_admin.set_active, methods=["POST"]),
    ]


def all_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi, methods=["GET"]),
        Mount("/api/v1", routes=api_routes()),
        Mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static"),
        *page_routes(),
    ]
