"""Admin pages: find, add, edit, reset, disable and re-enable accounts (/admin/users).

Roles come from `econsult.models.Role`, whatever it holds. Secrets an admin must pass
on (a reset link, a temporary password) are shown once, in the answer to the post that
made them, never in a URL."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import delegates, editing, password_resets, people, signatory
from econsult.accounts import users as accounts
from econsult.accounts.login import session_policy
from econsult.errors import DomainError, InvalidInput
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.requests import actor_of, parse_id
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.models import Role
from econsult.rota.specialties import list_specialties


async def _page(request: Request, *, error: str = "", form: dict[str, object] | None = None,
                notice: str = "", status_code: int = 200) -> Response:
    state = app_state(request)
    query = request.query_params
    q, role = query.get("q", "")[:100], query.get("role", "")[:20]
    rows = await people.directory(state.db, current_user(request), q=q,
                                  role=role if role in Role.__members__ else "",
                                  now=state.clock.now(), policy=session_policy(state.settings))
    return render(request, "admin_users.html", {
        "rows": rows, "users": [r.user for r in rows], "roles": [r.value for r in Role],
        "specialties": await list_specialties(state.db), "error": error, "form": form or {},
        "notice": notice, "q": q, "role": role,
        "delegates": await delegates.links_for_admin(state.db, current_user(request)),
    }, status_code=status_code)


async def page_with_error(request: Request, exc: DomainError) -> Response:
    """The users page again, with what went wrong (for handlers of its other forms)."""
    return await _page(request, error=exc.message, status_code=status_for(exc))


async def users_page(request: Request) -> Response:
    return await _page(request, notice=await _notice(request))


_DONE = {"added": "Added", "disabled": "Disabled", "enabled": "Enabled", "saved": "Saved",
         "revoked": "Ended a session of", "linked": "Saved the GPs of"}


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
    if user is None:
        return ""
    moved = request.query_params.get("moved", "")
    extra = (f"; {moved} open consult{'' if moved == '1' else 's'} went back to routing"
             if moved.isdigit() and moved != "0" else "")
    return f"{verb} {user.email}{extra}"


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
        change = await accounts.set_active(state, user_id=user_id, active=active,
                                           actor=actor_of(request), by=by)
    except DomainError as exc:
        return await _page(request, error=exc.message, status_code=status_for(exc))
    done = "enabled" if active else f"disabled&moved={change.consults_moved}"
    return RedirectResponse(f"/admin/users?done={done}&user={change.user.id}", status_code=303)


async def disable_page(request: Request) -> Response:
    """Ask before disabling: how many sessions end and how many consults will move."""
    state = app_state(request)
    preview = await accounts.preview_disable(
        state.db, user_id=parse_id(request.path_params["user_id"], "user"),
        clock=state.clock, by=current_user(request))
    return render(request, "admin_user_disable.html", {"preview": preview})


async def _person(request: Request, user_id: int, *, error: str = "", once: str = "",
                  once_kind: str = "", notice: str = "", status_code: int = 200,
                  form: dict[str, Any] | None = None) -> Response:
    state = app_state(request)
    row, live = await people.person(state.db, current_user(request), user_id,
                                    now=state.clock.now(), policy=session_policy(state.settings))
    signs = (await signatory.profile(state.db, current_user(request), user_id)
             if Role(row.user.role) is Role.specialist else None)
    return render(request, "admin_user.html", {
        "row": row, "sessions": live, "roles": [r.value for r in Role], "signatory": signs,
        "specialties": await list_specialties(state.db), "error": error, "once": once,
        "once_kind": once_kind, "notice": notice, "form": form or {},
        "public_url": state.settings.public_url or str(request.base_url).rstrip("/"),
    }, status_code=status_code)


async def person_page(request: Request) -> Response:
    return await _person(request, parse_id(request.path_params["user_id"], "user"))


async def person_submit(request: Request) -> Response:
    """One form on the person page: update, revoke_session, reset_link, reset_temporary."""
    state, by = app_state(request), current_user(request)
    user_id = parse_id(request.path_params["user_id"], "user")
    form = await request.form()
    action, actor = str(form.get("action") or ""), actor_of(request)
    typed: dict[str, Any] = {}
    try:
        if action == "update":
            typed = {"name": str(form.get("name") or "")[:300],
                     "role": str(form.get("role") or "")[:20],
                     "specialties": [str(s)[:64] for s in form.getlist("specialties")]}
            _, moved = await editing.update_person(state, user_id=user_id, actor=actor, by=by,
                                                   **typed)
            return RedirectResponse(f"/admin/users?done=saved&user={user_id}&moved={moved}",
                                    status_code=303)
        if action == "signatory":
            await signatory.set_signatory(
                state.db, state.clock, by, user_id=user_id, actor=actor,
                credentials=str(form.get("credentials") or "")[:300],
                registration=str(form.get("registration") or "")[:100])
            return await _person(request, user_id, notice="Signature saved.")
        if action == "revoke_session":
            await people.revoke_session(state.db, state.clock, by, user_id=user_id,
                                        session_id=parse_id(form.get("session"), "session"),
                                        actor=actor)
            return await _person(request, user_id, notice="Session ended.")
        if action == "reset_link":
            token = await password_resets.issue_reset_link(state.db, state.clock, by,
                                                           user_id=user_id, actor=actor)
            return await _person(request, user_id, once=f"/reset/{token}", once_kind="link")
        if action == "reset_temporary":
            temporary = await password_resets.set_temporary_password(
                state.db, state.clock, state.passwords, by, user_id=user_id, actor=actor)
            return await _person(request, user_id, once=temporary, once_kind="password")
        raise InvalidInput("Unknown action.", field="action")
    except DomainError as exc:
        return await _person(request, user_id, error=exc.message, form=typed,
                             status_code=status_for(exc))


def routes() -> list[BaseRoute]:
    return [
        Route("/admin/users/{user_id}", person_page, methods=["GET"]),
        Route("/admin/users/{user_id}", person_submit, methods=["POST"]),
        Route("/admin/users/{user_id}/disable", disable_page, methods=["GET"]),
    ]
