"""Audit review for staff and admins: the filtered log (/audit) and its CSV (/audit.csv).
Both are recorded in the log itself."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import actor_of, is_row_id, parse_instant
from econsult.http.state import app_state
from econsult.http.templating import render
from econsult.ops import audit_review
from econsult.ops.audit_review import AuditFilters

_TEXT = ("person", "consult", "action")


def parse_audit_filters(params: Mapping[str, str], request: Request) -> AuditFilters:
    tz = app_state(request).settings.timezone
    values = {k: (params.get(k) or "").strip()[:64] for k in _TEXT}
    start = parse_instant(params["from"], "from", tz) if params.get("from") else None
    end = parse_instant(params["to"], "to", tz) if params.get("to") else None
    if start and end and end <= start:
        raise InvalidInput("'to' must be after 'from'.", field="to")
    before_text = params.get("before") or ""
    if before_text and not is_row_id(before_text):
        raise InvalidInput("before must be a row id.", field="before")
    return AuditFilters(values["person"], values["consult"], values["action"], start, end,
                        int(before_text) if before_text else None)


def _form(params: Mapping[str, str]) -> dict[str, str]:
    return {k: (params.get(k) or "")[:64] for k in (*_TEXT, "from", "to")}


async def audit_page(request: Request) -> Response:
    state = app_state(request)
    filters = parse_audit_filters(request.query_params, request)
    found = await audit_review.review(state.db, current_user(request), filters,
                                      actor=actor_of(request), at=state.clock.now(),
                                      chain=state.audit_chain)
    form = _form(request.query_params)
    query = urlencode({k: v for k, v in form.items() if v})
    return render(request, "audit.html", {
        "page": found, "form": form, "query": query, "utc": UTC,
        "older": urlencode({**{k: v for k, v in form.items() if v},
                            "before": found.more_before}) if found.more_before else "",
    })


async def audit_csv(request: Request) -> Response:
    state = app_state(request)
    filters = parse_audit_filters(request.query_params, request)
    body = await audit_review.export_csv(state.db, current_user(request), filters,
                                         actor=actor_of(request), at=state.clock.now())
    stamp = state.clock.now().strftime("%Y%m%d-%H%M")
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
        "Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [
        Route("/audit", audit_page, methods=["GET"]),
        Route("/audit.csv", audit_csv, methods=["GET"]),
    ]
