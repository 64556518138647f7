"""Admin page: FHIR API clients (register with a public JWKS, GPs and scopes; revoke)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import api_clients
from econsult.accounts import users as accounts
from econsult.errors import DomainError
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.requests import actor_of
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.models import Role

DEFAULT_SCOPES = "system/*.rs system/ServiceRequest.c system/Patient.c system/DocumentReference.c"
_DONE = {"added": "Registered", "revoked": "Revoked"}


async def _page(request: Request, *, error: str = "", form: dict[str, object] | None = None,
                status_code: int = 200) -> Response:
    db, by = app_state(request).db, current_user(request)
    clients = await api_clients.list_clients(db, by)
    gps = [u for u in await accounts.list_users(db, by) if u.role == Role.gp and u.active]
    notice = ""
    verb, client_id = _DONE.get(request.query_params.get("done", "")), \
        request.query_params.get("client", "")
    if verb and not error:
        # Built from a fixed word and a real client, so a link cannot put words here.
        named = next((c for c in clients if c.id == client_id), None)
        notice = f"{verb} {named.name} (client_id {named.id})" if named else ""
    return render(request, "admin_clients.html", {
        "clients": clients, "gps": gps, "error": error, "notice": notice,
        "form": form or {"scopes": DEFAULT_SCOPES},
    }, status_code=status_code)


async def clients_page(request: Request) -> Response:
    return await _page(request)


async def add_client(request: Request) -> Response:
    state = app_state(request)
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in ("name", "jwks", "scopes")}
    gps = [str(g) for g in form.getlist("gps")]
    try:
        client = await api_clients.register(
            state.db, name=fields["name"], jwks=fields["jwks"], gp_emails=gps,
            scopes=fields["scopes"].split(), actor=actor_of(request), clock=state.clock,
            by=current_user(request))
    except DomainError as exc:
        return await _page(request, error=exc.message, form={**fields, "gps": gps},
                           status_code=status_for(exc))
    return RedirectResponse(f"/admin/clients?done=added&client={client.id}", status_code=303)


async def revoke_client(request: Request) -> Response:
    state = app_state(request)
    try:
        client = await api_clients.revoke(state.db, client_id=request.path_params["client_id"],
                                          actor=actor_of(request), clock=state.clock,
                                          by=current_user(request))
    except DomainError as exc:
        return await _page(request, error=exc.message, status_code=status_for(exc))
    return RedirectResponse(f"/admin/clients?done=revoked&client={client.id}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/clients", clients_page, methods=["GET"]),
        Route("/admin/clients", add_client, methods=["POST"]),
        Route("/admin/clients/{client_id}/revoke", revoke_client, methods=["POST"]),
    ]
