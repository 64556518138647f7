"""Admin page, the delegates part: save which GPs a delegate works for."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.accounts import delegates
from econsult.errors import DomainError, InvalidInput, NotFound
from econsult.http.auth import current_user
from econsult.http.pages_admin import page_with_error
from econsult.http.requests import actor_of, parse_id
from econsult.http.state import app_state


async def set_delegate_links(request: Request) -> Response:
    state, by = app_state(request), current_user(request)
    try:
        delegate_id = parse_id(request.path_params["user_id"], "user")
        form = await request.form()
        try:
            gp_ids = [parse_id(v, "GP") for v in form.getlist("gp")]
        except NotFound:
            raise InvalidInput("Choose GPs from the list.", field="gp") from None
        await delegates.set_links(state.db, delegate_id=delegate_id, gp_ids=gp_ids,
                                  actor=actor_of(request), clock=state.clock, by=by)
    except DomainError as exc:
        return await page_with_error(request, exc)
    return RedirectResponse(f"/admin/users?done=linked&user={delegate_id}", status_code=303)


def routes() -> list[BaseRoute]:
    return [Route("/admin/users/{user_id}/delegates", set_delegate_links, methods=["POST"])]
