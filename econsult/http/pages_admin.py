"""Admin page: list, add, disable and re-enable accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from econsult import accounts
from econsult.errors import DomainError, NotFound
from econsult.http.auth import current_user
from econsult.http.context import get_ctx
from econsult.http.errors import status_for
from econsult.http.requests import actor_of
from econsult.http.templating import render
from econsult.models import Role, Specialty
from econsult.security.policy import Action, may


def _require_admin(request: Request) -> None:
    if not may(current_user(request), Action.manage_users):
        raise NotFound("Not found.")


async def _specialties(request: Request) -> list[Specialty]:
    async with get_ctx(request).db.read() as db:
        return list((await db.execute(select(Specialty).order_by(col(Specialty.name)))).scalars())


async def _page(request: Request, *, error: str = "", form: dict[str, object] | None = None,
                notice: str = "", status_code: int = 200) -> Response:
    users = await accounts.list_users(get_ctx(request).db)
    return render(request, "admin_users.html", {
        "users": users, "roles": [r.value for r in Role],
        "specialties": await _specialties(request), "error": error, "form": form or {},
        "notice": notice,
    }, status_code=status_code)


async def users_page(request: Request) -> Response:
    _require_admin(request)
    return await _page(request, notice=await _notice(request))


_DONE = {"added": "Added", "disabled": "Disabled", "enabled": "Enabled"}


async def _notice(request: Request) -> str:
    """The confirmation after a change, built from a fixed word and a real account, so
    a crafted link cannot put words of its own on this page."""
    verb = _DONE.get(request.query_params.get("done", ""))
    user_id = request.query_params.get("user", "")
    if verb is None or not user_id.isdigit():
        return ""
    users = {u.id: u for u in await accounts.list_users(get_ctx(request).db)}
    user = users.get(int(user_id))
    return f"{verb} {user.email}" if user else ""


async def add_user(request: Request) -> Response:
    _require_admin(request)
    ctx = get_ctx(request)
    form = await request.form()
    fields = {k: str(form.get(k) or "") for k in ("email", "name", "role")}
    specialties = [str(s) for s in form.getlist("specialties")]
    try:
        user = await accounts.create_user(
            ctx.db, email=fields["email"], name=fields["name"], role=fields["role"],
            password=str(form.get("password") or ""), specialties=specialties,
            actor=actor_of(request), clock=ctx.clock,
        )
    except DomainError as exc:
        return await _page(request, error=exc.message,
                           form={**fields, "specialties": specialties},
                           status_code=status_for(exc))
    return RedirectResponse(f"/admin/users?done=added&user={user.id}", status_code=303)


async def set_active(request: Request) -> Response:
    _require_admin(request)
    ctx = get_ctx(request)
    try:
        user_id = int(request.path_params["user_id"])
    except ValueError:
        raise NotFound("No such user.") from None
    form = await request.form()
    active = str(form.get("active")) == "1"
    try:
        user = await accounts.set_active(ctx.db, user_id=user_id, active=active,
                                         actor=actor_of(request), clock=ctx.clock)
    except DomainError as exc:
        return await _page(request, error=exc.message, status_code=status_for(exc))
    done = "enabled" if active else "disabled"
    return RedirectResponse(f"/admin/users?done={done}&user={user.id}", status_code=303)
