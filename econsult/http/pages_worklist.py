"""Staff page: the work list (open consults that need a person), with reassignment.

The rows are one template (`worklist_rows.html`), served whole with the page and alone
as `?fragment=rows`, which the page's script fetches when a live event arrives."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.consults import queries, worklist
from econsult.consults import reassign as reassigning
from econsult.errors import DomainError
from econsult.http.auth import current_user
from econsult.http.errors import status_for
from econsult.http.pages_consults import STATE_LABELS
from econsult.http.requests import client_addr
from econsult.http.state import app_state
from econsult.http.templating import render

NOTICES = {"reassigned": "Consult reassigned.", "pooled": "Consult sent to the pool."}


async def _page(request: Request, *, error: str = "", status_code: int = 200) -> Response:
    svc = app_state(request)
    last = await queries.last_event_id(svc)  # before the list: an event in between replays
    found = await worklist.work_list(svc, current_user(request))
    fragment = request.query_params.get("fragment") == "rows"
    notice = "" if error else NOTICES.get(request.query_params.get("done", ""), "")
    return render(request, "worklist_rows.html" if fragment else "worklist.html", {
        "items": found.items, "candidates": found.candidates, "state_labels": STATE_LABELS,
        "generated_at": found.generated_at, "last_event_id": last, "error": error,
        "notice": notice, "when": _when,
    }, status_code=status_code)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def worklist_page(request: Request) -> Response:
    return await _page(request)


async def worklist_submit(request: Request) -> Response:
    """The reassign form of one row (the page's script uses the JSON API instead)."""
    form = await request.form()
    to = str(form.get("to") or "")
    try:
        await reassigning.reassign(
            app_state(request), current_user(request), str(form.get("consult") or "")[:64],
            specialist=None if to == "pool" else to[:254] or None, pool=to == "pool",
            reason=str(form.get("reason") or "")[:2000], client_addr=client_addr(request))
    except DomainError as exc:
        return await _page(request, error=exc.message, status_code=status_for(exc))
    done = "pooled" if to == "pool" else "reassigned"
    return RedirectResponse(f"/worklist?done={done}", status_code=303)


def routes() -> list[BaseRoute]:
    return [
        Route("/worklist", worklist_page, methods=["GET"]),
        Route("/worklist", worklist_submit, methods=["POST"]),
    ]
