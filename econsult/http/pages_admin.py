"""Admin page: list, add, disable and re-enable accounts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult.accounts import delegates
from econsult.accounts import users as accounts
from econsult.errors import DomainError
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.requests import actor_of, parse_id
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.models import Role
from econsult.rota.specialties import list_specialties


async def _page(request: Request, *, error: str = "", form: dict[str, object] | None = None,
                notice: str = "", status_code: int = 200) -> Response:
    db = app_state(request).db
    users = await accounts.list_users(db, current_user(request))
    return render(request, "admin_users.html", {
        "users": users, "roles": [r.value for r in Role],
        "specialties": await list_specialties(db), "error": error, "form": form or {},
        "notice": notice, "delegates": await delegates.links_for_admin(db, current_user(request)),
    }, status_code=status_code)


async def page_with_error(request: Request, exc: DomainError) -> Response:
    """The users page again, with what went wrong (for handlers of its other forms)."""
    return await _page(request, error=exc.message, status_code=status_for(exc))


async def users_page(request: Request) -> Response:
    return await _page(request, notice=await _notice(request))


_DONE = {"added": "Added", "disabled": "Disabled", "enabled": "Enabled",
         "linked": "Saved the GPs of"}


async def _notice(request: Request) -> str:
    """The confirmation after a change, built from a fixed word and a real account, so
    a crafted link cannot put words of its own on this page."""
    verb = _DONE.get(request.query_params.get("done", ""))
    user_id = request.query_params.get("user", "")
    if verb is None or not user_id.isdigit():
        return ""
    users = {u.id: u for u in await accounts.list_users(app_state(request).db,
                                                         current_user(request))}
    user = users.get(int(user_id))
    return f"{verb} {user.email}" if user else ""


async def add_user(request: Request) -> Response:
    state, by = app_state(request), current_user(request)
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in ("email", "name", "role")}
    specialties = [str(s) for s in form.getlist("specialties")]
    delegate_for = [str(e) for e in form.getlist("delegate_for")]
    try:
        user = await accounts.create_user(
            state.db, email=fields["email"], name=fields["name"], role=fields["role"],
            password=str(form.get("password") or ""), specialties=specialties,
            actor=actor_of(request), clock=state.clock, passwords=state.passwords, by=by,
            delegate_for=delegate_for,
        )
    except DomainError as exc:
        return await _page(request, error=exc.message,
                           form={**fields, "specialties": specialties,
                                 "delegate_for": delegate_for},
                           status_code=status_for(exc))
    return RedirectResponse(f"/admin/users?done=added&user={user.id}", status_code=303)


async def set_active(request: Request) -> Response:
    state, by = app_state(request), current_user(request)
    user_id = parse_id(request.path_params["user_id"], "user")
    form = await request.form()
    active = str(form.get("active")) == "1"
    try:
        user = await accounts.set_active(state.db, user_id=user_id, active=active,
                                         actor=actor_of(request), clock=state.clock, by=by)
    except DomainError as exc:
        return await _page(request, error=exc.message, status_code=status_for(exc))
    done = "enabled" if active else "disabled"
    return RedirectResponse(f"/admin/users?done={done}&user={user.id}", status_code=303)
