"""The route table: every URL the service answers, in one place."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from econsult.http import (
    api_attachments,
    api_auth,
    api_clinical,
    api_consults,
    api_drafts,
    api_exports,
    api_images,
    api_mfa,
    api_rota,
    api_session,
    api_staff,
    api_turnaround,
    api_viewer,
    openapi,
    pages_account,
    pages_admin,
    pages_admin_delegates,
    pages_audit,
    pages_auth,
    pages_checklists,
    pages_clients,
    pages_consults,
    pages_dashboard,
    pages_mfa,
    pages_rota,
    pages_rota_replay,
    pages_targets,
    pages_worklist,
    ws,
)
from econsult.http.templating import WEB_DIR


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def api_routes() -> list[BaseRoute]:
    return [
        Route("/auth/login", api_auth.login, methods=["POST"]),
        Route("/auth/logout", api_auth.logout, methods=["POST"]),
        Route("/me", api_auth.me, methods=["GET"]),
        Route("/consults", api_consults.create_consult, methods=["POST"]),
        Route("/consults", api_consults.list_consults, methods=["GET"]),
        Route("/consults/{id}", api_consults.get_consult, methods=["GET"]),
        Route("/consults/{id}/acknowledge", api_consults.acknowledge, methods=["POST"]),
        Route("/consults/{id}/messages", api_consults.post_message, methods=["POST"]),
        Route("/consults/{id}/reroute", api_consults.reroute, methods=["POST"]),
        Route("/consults/{id}/return", api_consults.return_to_pool, methods=["POST"]),
        Route("/consults/{id}/convert", api_consults.convert, methods=["POST"]),
        Route("/consults/{id}/close", api_consults.close, methods=["POST"]),
        Route("/consults/{id}/cancel", api_consults.cancel, methods=["POST"]),
        *api_rota.routes(),
        # Areas that own their URL lists (each module's routes(), paths under /api/v1).
        *api_images.routes(),
        *api_attachments.routes(),
        *api_viewer.routes(),
        *api_turnaround.routes(),
        *api_exports.routes(),
        *api_staff.routes(),
        *api_mfa.routes(),
        *api_clinical.routes(),
        *api_drafts.routes(),
        *api_session.routes(),
        *pages_rota_replay.api_routes(),
    ]


def page_routes() -> list[BaseRoute]:
    return [
        Route("/", pages_auth.home, methods=["GET"]),
        Route("/login", pages_auth.login_page, methods=["GET"]),
        Route("/login", pages_auth.login_submit, methods=["POST"]),
        Route("/logout", pages_auth.logout_submit, methods=["POST"]),
        Route("/rota", pages_rota.rota_page, methods=["GET"]),
        Route("/rota", pages_rota.rota_submit, methods=["POST"]),
        *pages_rota_replay.routes(),
        Route("/admin/users", pages_admin.users_page, methods=["GET"]),
        Route("/admin/users", pages_admin.add_user, methods=["POST"]),
        Route("/admin/users/{user_id}/active", pages_admin.set_active, methods=["POST"]),
        *pages_admin.routes(),
        *pages_admin_delegates.routes(),
        *pages_consults.routes(),
        *pages_dashboard.routes(),
        *pages_clients.routes(),
        *pages_worklist.routes(),
        *pages_account.routes(),
        *pages_targets.routes(),
        *pages_checklists.routes(),
        *pages_audit.routes(),
        *pages_mfa.routes(),
        *ws.routes(),
    ]


def all_routes() -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/v1/openapi.json", openapi.openapi, methods=["GET"]),
        Mount("/api/v1", routes=api_routes()),
        Mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static"),
        *page_routes(),
    ]
