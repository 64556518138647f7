"""Turnaround JSON and CSV for program staff (timestamps and codes only)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import actor_of, parse_instant
from econsult.http.responses import JSONResponse
from econsult.http.state import AppState, app_state
from econsult.routing.targets import Urgency
from econsult.turnaround import service
from econsult.turnaround.filters import Filters

NO_STORE = {"Cache-Control": "no-store"}


def parse_filters(params: Mapping[str, str], state: AppState) -> Filters:
    """?from&to (the one date-time rule, econsult.http.requests) &specialty&urgency."""
    tz = state.settings.timezone
    start = parse_instant(params["from"], "from", tz) if params.get("from") else None
    end = parse_instant(params["to"], "to", tz) if params.get("to") else None
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to must be after from.", field="to")
    specialty = (params.get("specialty") or "").strip() or None
    if specialty is not None and len(specialty) > 64:
        raise InvalidInput("Unknown specialty.", field="specialty")
    urgency = (params.get("urgency") or "").strip() or None
    if urgency is not None and urgency not in {u.value for u in Urgency}:
        raise InvalidInput("urgency must be urgent, semi_urgent or routine.", field="urgency")
    return Filters(start, end, specialty, urgency)


async def turnaround(request: Request) -> Response:
    """
    summary: Turnaround per specialty and urgency, and totals (?from&to&specialty&urgency)
    parameters:
      - {$ref: "#/components/parameters/From"}
      - {$ref: "#/components/parameters/To"}
      - {$ref: "#/components/parameters/SpecialtyFilter"}
      - {$ref: "#/components/parameters/UrgencyFilter"}
    responses:
      200: {description: "{groups, totals} (timestamps and codes only)"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    state, user = app_state(request), current_user(request)
    found = await service.summary(state.db, user, parse_filters(request.query_params, state))
    return JSONResponse(found.to_json(), headers=NO_STORE)


async def specialists(request: Request) -> Response:
    """
    summary: Per-specialist volume, medians, % within target and survey results
    parameters:
      - {$ref: "#/components/parameters/From"}
      - {$ref: "#/components/parameters/To"}
      - {$ref: "#/components/parameters/SpecialtyFilter"}
      - {$ref: "#/components/parameters/UrgencyFilter"}
    responses:
      200: {description: "{specialists: [...], program}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    state, user = app_state(request), current_user(request)
    rows, program = await service.specialists(state.db, user,
                                              parse_filters(request.query_params, state))
    return JSONResponse({"specialists": [r.to_json() for r in rows], "program": program.full()},
                        headers=NO_STORE)


def _attachment(name: str, state: AppState) -> dict[str, str]:
    day = state.clock.now().astimezone(state.settings.timezone).strftime("%Y%m%d")
    return {"Content-Disposition": f'attachment; filename="{name}-{day}.csv"', **NO_STORE}


async def turnaround_csv(request: Request) -> Response:
    """
    summary: One de-identified row per consult (CSV, streamed; audited)
    parameters:
      - {$ref: "#/components/parameters/From"}
      - {$ref: "#/components/parameters/To"}
      - {$ref: "#/components/parameters/SpecialtyFilter"}
      - {$ref: "#/components/parameters/UrgencyFilter"}
    responses:
      200: {description: "text/csv", content: {text/csv: {schema: {type: string}}}}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    state, user = app_state(request), current_user(request)
    rows = await service.export_consults(state.db, user,
                                         parse_filters(request.query_params, state),
                                         actor=actor_of(request), at=state.clock.now())
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers=_attachment("turnaround", state))


async def specialists_csv(request: Request) -> Response:
    """
    summary: The per-specialist report as CSV, with a final row for the whole program
    parameters:
      - {$ref: "#/components/parameters/From"}
      - {$ref: "#/components/parameters/To"}
      - {$ref: "#/components/parameters/SpecialtyFilter"}
      - {$ref: "#/components/parameters/UrgencyFilter"}
    responses:
      200: {description: "text/csv", content: {text/csv: {schema: {type: string}}}}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
    """
    state, user = app_state(request), current_user(request)
    text = await service.export_specialists(state.db, user,
                                            parse_filters(request.query_params, state),
                                            actor=actor_of(request), at=state.clock.now())
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers=_attachment("turnaround-specialists", state))


def routes() -> list[BaseRoute]:
    return [
        Route("/turnaround", turnaround, methods=["GET"]),
        Route("/turnaround.csv", turnaround_csv, methods=["GET"]),
        Route("/turnaround/specialists", specialists, methods=["GET"]),
        Route("/turnaround/specialists.csv", specialists_csv, methods=["GET"]),
    ]
