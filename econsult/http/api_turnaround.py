"""Turnaround JSON and CSV for program staff (timestamps and codes only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from econsult.consults.services import Services
from econsult.errors import NotFound
from econsult.http.auth import current_user
from econsult.http.context import get_ctx
from econsult.http.requests import actor_of
from econsult.http.responses import JSONResponse
from econsult.security.policy import Action, may
from econsult.turnaround import aggregates, export, report
from econsult.turnaround.aggregates import Filters


def _services(request: Request) -> Services:
    svc: Services = get_ctx(request).extras["services"]
    return svc


def _allowed(request: Request, action: Action) -> Services:
    # Not staff: the endpoint does not exist for them (404, like every foreign object).
    if not may(current_user(request), action):
        raise NotFound("Not found.")
    return _services(request)


def _filters(request: Request, svc: Services) -> Filters:
    return aggregates.parse_filters(request.query_params, svc.settings.timezone)


async def turnaround(request: Request) -> Response:
    """
    summary: Turnaround per specialty and urgency, and totals (?from&to&specialty&urgency)
    """
    svc = _allowed(request, Action.view_turnaround)
    filters = _filters(request, svc)
    async with svc.db.read() as db:
        summary = await aggregates.summarise(db, filters)
    return JSONResponse(summary.to_json(), headers={"Cache-Control": "no-store"})


async def specialists(request: Request) -> Response:
    """
    summary: Per-specialist volume, medians, % within target and survey results
    """
    svc = _allowed(request, Action.view_turnaround)
    filters = _filters(request, svc)
    async with svc.db.read() as db:
        rows = await report.specialists(db, filters)
        program = (await aggregates.grouped(db, aggregates.where_of(filters), []))[()]
    return JSONResponse({"specialists": [r.to_json() for r in rows], "program": program.full()},
                        headers={"Cache-Control": "no-store"})


def _attachment(name: str, svc: Services) -> dict[str, str]:
    day = svc.clock.now().astimezone(svc.settings.timezone).strftime("%Y%m%d")
    return {"Content-Disposition": f'attachment; filename="{name}-{day}.csv"',
            "Cache-Control": "no-store"}


async def turnaround_csv(request: Request) -> Response:
    """
    summary: One de-identified row per consult (CSV, streamed; audited)
    """
    svc = _allowed(request, Action.export_turnaround)
    filters = _filters(request, svc)
    await export.record_export(svc.db, actor=actor_of(request), at=svc.clock.now(),
                               what="turnaround.consults", filters=filters)
    return StreamingResponse(export.consult_rows(svc.db, filters),
                             media_type="text/csv; charset=utf-8",
                             headers=_attachment("turnaround", svc))


SPECIALIST_COLUMNS = ("specialist_id", "name", "specialties", *aggregates.CONTRACT_FIELDS,
                      "mean_usefulness")


async def specialists_csv(request: Request) -> Response:
    """
    summary: The per-specialist report as CSV, with a final row for the whole program
    """
    svc = _allowed(request, Action.export_turnaround)
    filters = _filters(request, svc)
    await export.record_export(svc.db, actor=actor_of(request), at=svc.clock.now(),
                               what="turnaround.specialists", filters=filters)
    async with svc.db.read() as db:
        rows = await report.specialists(db, filters)
        program = (await aggregates.grouped(db, aggregates.where_of(filters), []))[()]
    table: list[list[object]] = [list(SPECIALIST_COLUMNS)]
    for r in rows:
        data = {**r.to_json(), "specialties": " ".join(r.specialties)}
        table.append([data[c] for c in SPECIALIST_COLUMNS])
    table.append(["", "program", "", *[program.full()[c] for c in SPECIALIST_COLUMNS[3:]]])
    return Response(export.csv_text(table), media_type="text/csv; charset=utf-8",
                    headers=_attachment("turnaround-specialists", svc))


def routes() -> list[BaseRoute]:
    return [
        Route("/turnaround", turnaround, methods=["GET"]),
        Route("/turnaround.csv", turnaround_csv, methods=["GET"]),
        Route("/turnaround/specialists", specialists, methods=["GET"]),
        Route("/turnaround/specialists.csv", specialists_csv, methods=["GET"]),
    ]

