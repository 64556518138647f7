"""One's own account (/account): password, sessions, and for specialists their
out-of-office and on-call calendar link; the password reset page a one-time link
opens (/reset/{token}); the calendar feed itself (/calendar/{token}.ics).

`/account` is one page of sections, each its own template partial (account_*.html),
included by account.html where it applies."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import mfa, password_resets, people, signatory
from econsult.accounts.login import session_policy
from econsult.errors import DomainError, InvalidInput, NotFound
from econsult.http.auth import PASSWORD_CHANGE_PAGE, current_session, current_user
from econsult.http.errors import status_for
from econsult.http.requests import actor_of, client_addr, parse_id, parse_instant
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.models import Role
from econsult.rota import absences, calendar_feed
from econsult.security.policy import Action, may, require

NOTICES = {"password": "Password changed. Your other sessions have ended.",
           "session": "Session ended.", "absence_added": "Out-of-office saved.",
           "absence_deleted": "Out-of-office removed.",
           "signatory": "Signature saved: your next answers are signed with it."}


async def _page(request: Request, *, error: str = "", section: str = "", once: str = "",
                form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    state, auth = app_state(request), current_session(request)
    user = auth.principal
    require(user, Action.own_account)
    sessions = await people.my_sessions(state.db, user, now=state.clock.now(),
                                        policy=session_policy(state.settings),
                                        current=auth.session_id)
    context: dict[str, Any] = {
        "sessions": sessions, "error": error, "error_section": section, "form": form or {},
        "notice": "" if error else NOTICES.get(request.query_params.get("done", ""), ""),
        "must_change": auth.must_change_password, "once": once,
        "show_outofoffice": may(user, Action.own_absence),
        "show_calendar": may(user, Action.own_calendar),
        "mfa": await mfa.status(state, auth),
    }
    context["show_signatory"] = user.role is Role.specialist
    if context["show_signatory"]:
        context["signatory"] = await signatory.profile(state.db, user, user.id)
    if context["show_outofoffice"]:
        context["absences"] = await absences.own_absences(state, user)
    if context["show_calendar"]:
        context["feed_made_at"] = await calendar_feed.feed_made_at(state.db, user)
        context["public_url"] = state.settings.public_url or str(request.base_url).rstrip("/")
    return render(request, "account.html", context, status_code=status_code)


async def account_page(request: Request) -> Response:
    return await _page(request)


async def account_submit(request: Request) -> Response:
    """One form of the page: revoke_session, add_absence, delete_absence, calendar_link."""
    state, user = app_state(request), current_user(request)
    form = await request.form()
    action, actor = str(form.get("action") or ""), actor_of(request)
    typed = {k: str(form.get(k) or "")[:40] for k in ("starts_at", "ends_at")}
    try:
        if action == "revoke_session":
            await people.revoke_session(state.db, state.clock, user, user_id=user.id,
                                        session_id=parse_id(form.get("session"), "session"),
                                        actor=actor)
            return RedirectResponse("/account?done=session#sessions", status_code=303)
        if action == "add_absence":
            tz = state.settings.timezone
            await absences.add_own_absence(
                state, user, starts_at=parse_instant(typed["starts_at"], "starts_at", tz),
                ends_at=parse_instant(typed["ends_at"], "ends_at", tz), actor=actor)
            return RedirectResponse("/account?done=absence_added#outofoffice", status_code=303)
        if action == "delete_absence":
            await absences.delete_own_absence(state, user, actor=actor,
                                              absence_id=parse_id(form.get("id"), "absence"))
            return RedirectResponse("/account?done=absence_deleted#outofoffice",
                                    status_code=303)
        if action == "signatory":
            await signatory.set_signatory(
                state.db, state.clock, user, user_id=user.id, actor=actor,
                credentials=str(form.get("credentials") or "")[:300],
                registration=str(form.get("registration") or "")[:100])
            return RedirectResponse("/account?done=signatory#signatory", status_code=303)
        if action == "calendar_link":
            token = await calendar_feed.make_feed(state.db, state.clock, user, actor=actor)
            return await _page(request, once=f"/calendar/{token}.ics")
        raise InvalidInput("Unknown action.", field="action")
    except DomainError as exc:
        return await _page(request, error=exc.message, section=action, form=typed,
                           status_code=status_for(exc))


async def password_page(request: Request) -> Response:
    auth = current_session(request)
    return render(request, "account_password_page.html",
                  {"must_change": auth.must_change_password, "error": ""})


async def password_submit(request: Request) -> Response:
    state, auth = app_state(request), current_session(request)
    form = await request.form()
    new, again = str(form.get("new_password") or "")[:1024], str(form.get("again") or "")[:1024]
    try:
        if new != again:
            raise InvalidInput("The two new passwords differ.", field="again")
        await password_resets.change_own_password(
            state.db, state.clock, state.passwords, auth.principal,
            current=str(form.get("current_password") or "")[:1024], new_password=new,
            session_id=auth.session_id, actor=actor_of(request))
    except DomainError as exc:
        return render(request, "account_password_page.html",
                      {"must_change": auth.must_change_password, "error": exc.message},
                      status_code=status_for(exc))
    return RedirectResponse("/account?done=password", status_code=303)


async def reset_page(request: Request) -> Response:
    state = app_state(request)
    token = request.path_params["token"]
    email = await password_resets.reset_link_owner(state.db, state.clock, token)
    return render(request, "reset.html", {"email": email, "token": token, "error": ""})


async def reset_submit(request: Request) -> Response:
    state = app_state(request)
    token = request.path_params["token"]
    form = await request.form()
    new, again = str(form.get("new_password") or "")[:1024], str(form.get("again") or "")[:1024]
    try:
        if new != again:
            raise InvalidInput("The two passwords differ.", field="again")
        await password_resets.use_reset_link(state.db, state.clock, state.passwords,
                                             token=token, new_password=new,
                                             client_addr=client_addr(request))
    except NotFound:
        raise
    except DomainError as exc:
        email = await password_resets.reset_link_owner(state.db, state.clock, token)
        return render(request, "reset.html", {"email": email, "token": token,
                                              "error": exc.message},
                      status_code=status_for(exc))
    return RedirectResponse("/login?reset=1", status_code=303)


async def calendar(request: Request) -> Response:
    """The feed behind a secret address: no session needed, none used."""
    state = app_state(request)
    ics = await calendar_feed.feed_ics(state.db, state.clock, state.settings.timezone,
                                       request.path_params["token"])
    if ics is None:
        raise NotFound("No such calendar.")
    return Response(ics, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300"})


def routes() -> list[BaseRoute]:
    return [
        Route("/account", account_page, methods=["GET"]),
        Route("/account", account_submit, methods=["POST"]),
        Route(PASSWORD_CHANGE_PAGE, password_page, methods=["GET"]),
        Route(PASSWORD_CHANGE_PAGE, password_submit, methods=["POST"]),
        Route("/reset/{token}", reset_page, methods=["GET"]),
        Route("/reset/{token}", reset_submit, methods=["POST"]),
        Route("/calendar/{token}.ics", calendar, methods=["GET"]),
    ]
