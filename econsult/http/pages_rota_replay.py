"""Replaying a rota against the last four weeks' arrivals (staff, on /rota).

`POST /rota/replay` (the page's form) and `POST /api/v1/rota/replay` start a replay
in the background (`ops.rota_replay.ReplayJobs`) and return at once; the page shows
its progress by polling `GET /api/v1/rota/replay/{id}`, then its figures beside the
current week's."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from econsult.errors import DomainError, InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import json_body, parse_date
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state
from econsult.ops.rota_replay import ReplayJob, ReplayResult, replay_input, urgencies_shown
from econsult.routing.targets import Urgency


async def _start(request: Request, specialty: str, week: date | None) -> ReplayJob:
    state = app_state(request)
    user = current_user(request)
    now = state.clock.now()
    data = await replay_input(state.db, user, specialty=specialty[:64], week=week, now=now,
                              tz=state.settings.timezone)
    return await state.replays.start(data, user, now)


def _week(value: object) -> date | None:
    return parse_date(value, "week") if value not in (None, "") else None


async def replay_submit(request: Request) -> Response:
    form = await request.form()
    specialty = str(form.get("specialty") or "")
    week = str(form.get("week") or "")
    query: dict[str, str] = {"specialty": specialty[:64], "week": week[:10]}
    try:
        job = await _start(request, specialty, _week(week or None))
        query["replay"] = job.id
    except DomainError as exc:
        if not isinstance(exc, InvalidInput):
            raise
        query["replay_error"] = exc.code or "invalid"
    return RedirectResponse(f"/rota?{urlencode(query)}#replay", status_code=303)


async def api_start(request: Request) -> Response:
    """
    summary: Start a rota replay ({specialty, week}); 202 with the job to poll
    description: "Staff only. Runs the week's rota (default next week) and this week's against the last four weeks' recorded arrivals of the specialty (times and urgencies only), in the background, bounded in size and time; poll GET /rota/replay/{job_id}."
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [specialty]
            properties:
              specialty: {type: string, maxLength: 64}
              week: {type: string, format: date, description: "the Monday of the week to try (program zone); default next week"}
    responses:
      202: {description: "{id, specialty, week, state, progress, ...}: the job to poll"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
    body = await json_body(request)
    job = await _start(request, str(body.get("specialty") or ""), _week(body.get("week")))
    return JSONResponse(job.as_json(), status_code=202)


async def api_status(request: Request) -> Response:
    """
    summary: A rota replay's progress, and its figures once done
    parameters:
      - {name: job_id, in: path, required: true, schema: {type: string, maxLength: 32}}
    responses:
      200: {description: "{id, state: running|done|failed, progress, result: {tried, current, uncovered_hours, ...} once done}"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
    state = app_state(request)
    job = state.replays.get(str(request.path_params["job_id"])[:32], current_user(request))
    return JSONResponse(job.as_json())


ERRORS = {  # fixed texts chosen by a code in the redirect
    "replay_too_large": "Too many consults in four weeks to replay here.",
    "replay_busy": "Two replays are already running; try again shortly.",
    "replay_no_rota": "Nobody holds this specialty: there is no rota to replay.",
}


def replay_context(request: Request, specialty: str) -> dict[str, Any]:
    """What web/templates/rota_replay.html shows: the job named in the query (or the
    latest for this specialty), its progress or its figures."""
    state = app_state(request)
    user = current_user(request)
    job: ReplayJob | None = None
    wanted = request.query_params.get("replay", "")[:32]
    if wanted:
        try:
            job = state.replays.get(wanted, user)
        except DomainError:
            job = None
    if job is None or job.specialty != specialty:
        job = state.replays.latest(specialty, user)
    code = request.query_params.get("replay_error", "")
    return {"job": job, "rows": _rows(job.result) if job and job.result else [],
            "error": ERRORS.get(code, "The replay could not start." if code else "")}


def _rows(result: ReplayResult) -> list[dict[str, Any]]:
    rows = []
    for urgency in urgencies_shown(result):
        cells = []
        for week in (result.current, result.candidate):
            s = week.summary(urgency)
            cover = next((c for c in week.coverage if c.urgency == urgency), None)
            cells.append({
                "n": s.n if s else 0,
                "ack": f"{s.acknowledged_in_window_pct:.0f}%" if s and s.n else "–",
                "target": f"{s.within_target_pct:.0f}%" if s and s.n else "–",
                "median": _duration(s.answer_median_s) if s else "–",
                "escalated": f"{s.escalated_pct:.0f}%" if s and s.n else "–",
                "uncovered": f"{cover.uncovered_hours:.0f} h" if cover else "–",
                "no_backup": f"{cover.no_backup_hours:.0f} h" if cover else "–",
            })
        rows.append({"urgency": urgency.value.replace("_", "-"), "cells": cells,
                     "urgent": urgency == Urgency.URGENT})
    return rows


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def routes() -> list[BaseRoute]:
    return [Route("/rota/replay", replay_submit, methods=["POST"])]


def api_routes() -> list[BaseRoute]:
    """Under /api/v1."""
    return [
        Route("/rota/replay", api_start, methods=["POST"]),
        Route("/rota/replay/{job_id}", api_status, methods=["GET"]),
    ]
