"""JSON API: the on-call rota (staff) and the specialty catalogue with its targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from econsult.consults import rota_service as rota
from econsult.consults import specialties_service
from econsult.errors import NotFound, PermissionDenied
from econsult.http.auth import current_user
from econsult.http.context import get_ctx
from econsult.http.requests import actor_of, json_body, text_field
from econsult.http.responses import JSONResponse
from econsult.security.policy import Action, may


def _require_rota(request: Request) -> None:
    # Everyone but staff gets the answer an unknown URL gives: nothing to probe.
    if not may(current_user(request), Action.manage_rota):
        raise NotFound("Not found.")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def rota_json(view: rota.RotaView) -> dict[str, Any]:
    def who(user_id: int) -> dict[str, Any]:
        person = view.person(user_id)
        return {"specialist": person.email, "specialist_id": person.id, "name": person.name}

    return {
        "specialty": view.specialty.slug,
        "from": _iso(view.start),
        "to": _iso(view.end),
        "shifts": [
            {
                **who(i.specialist_id),
                "tier": i.tier.value,
                "starts_at": _iso(i.starts_at_utc),
                "ends_at": _iso(i.ends_at_utc),
                "source": i.source.value,
                "shift_ids": list(i.shift_ids),
            }
            for i in view.intervals
        ],
        "weekly": [
            {
                "id": w.id,
                **who(w.specialist_id),
                "weekday": w.weekday,
                "start": w.start.strftime("%H:%M"),
                "end": w.end.strftime("%H:%M"),
                "tier": w.tier,
            }
            for w in view.weekly
        ],
        "one_off": [
            {
                "id": s.id,
                **who(s.specialist_id),
                "starts_at": _iso(s.starts_at),
                "ends_at": _iso(s.ends_at),
                "tier": s.tier,
            }
            for s in view.shifts
        ],
        "absences": [
            {
                "id": a.id,
                **who(a.specialist_id),
                "starts_at": _iso(a.starts_at),
                "ends_at": _iso(a.ends_at),
            }
            for a in view.absences
        ],
    }


async def list_rota(request: Request) -> Response:
    """
    summary: A specialty's on-call rota, expanded into UTC intervals (staff)
    description: "`from` and `to` are ISO 8601 datetimes with an offset, or dates (midnight in the program's zone); default: this week, Monday to Monday. Also lists the weekly patterns, one-off shifts and absences behind it."
    responses:
      200: {description: "{specialty, from, to, shifts, weekly, one_off, absences}"}
    """  # noqa: E501
    _require_rota(request)
    ctx = get_ctx(request)
    tz = ctx.settings.timezone
    start, end = rota.week_window(rota.week_start(ctx.clock.now().astimezone(tz).date()), tz)
    query = request.query_params
    if query.get("from"):
        start = rota.parse_bound(query["from"], "from", tz)
    if query.get("to"):
        end = rota.parse_bound(query["to"], "to", tz)
    view = await rota.rota_view(
        ctx.db, specialty=request.path_params["specialty"], start=start, end=end, tz=tz
    )
    return JSONResponse(rota_json(view))


async def add_shift(request: Request) -> Response:
    """
    summary: Put a specialist on call for a one-off period (staff)
    description: "Body {specialist (email), starts_at, ends_at (ISO 8601 with offset), tier: primary|backup}; at most 14 days."
    responses:
      201: {description: "{id, specialist, starts_at, ends_at, tier}"}
    """  # noqa: E501
    _require_rota(request)
    ctx = get_ctx(request)
    data = await json_body(request)
    row, person = await rota.add_shift(
        ctx.db,
        specialty=request.path_params["specialty"],
        specialist=text_field(data, "specialist", max_length=254),
        starts_at=rota.parse_instant(data.get("starts_at"), "starts_at"),
        ends_at=rota.parse_instant(data.get("ends_at"), "ends_at"),
        tier=rota.parse_tier(data.get("tier", "primary")),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return JSONResponse(
        {
            "id": row.id,
            "specialist": person.email,
            "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at),
            "tier": row.tier,
        },
        status_code=201,
    )


async def delete_shift(request: Request) -> Response:
    """
    summary: Remove a one-off shift (staff)
    responses:
      204: {description: removed}
    """
    _require_rota(request)
    ctx = get_ctx(request)
    await rota.delete_shift(
        ctx.db,
        specialty=request.path_params["specialty"],
        shift_id=rota.parse_id(request.path_params["id"], "shift"),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return Response(status_code=204)


async def add_weekly(request: Request) -> Response:
    """
    summary: Add a weekly on-call pattern in the program's time zone (staff)
    description: "Body {specialist (email), weekday (0=Monday), start, end (HH:MM), tier}. An end at or before the start runs past midnight."
    responses:
      201: {description: "{id, specialist, weekday, start, end, tier}"}
    """  # noqa: E501
    _require_rota(request)
    ctx = get_ctx(request)
    data = await json_body(request)
    row, person = await rota.add_weekly(
        ctx.db,
        specialty=request.path_params["specialty"],
        specialist=text_field(data, "specialist", max_length=254),
        weekday=rota.parse_weekday(data.get("weekday")),
        start=rota.parse_clock(data.get("start"), "start"),
        end=rota.parse_clock(data.get("end"), "end"),
        tier=rota.parse_tier(data.get("tier", "primary")),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return JSONResponse(
        {
            "id": row.id,
            "specialist": person.email,
            "weekday": row.weekday,
            "start": row.start.strftime("%H:%M"),
            "end": row.end.strftime("%H:%M"),
            "tier": row.tier,
        },
        status_code=201,
    )


async def delete_weekly(request: Request) -> Response:
    """
    summary: Remove a weekly pattern (staff)
    responses:
      204: {description: removed}
    """
    _require_rota(request)
    ctx = get_ctx(request)
    await rota.delete_weekly(
        ctx.db,
        specialty=request.path_params["specialty"],
        weekly_id=rota.parse_id(request.path_params["id"], "weekly pattern"),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return Response(status_code=204)


async def add_absence(request: Request) -> Response:
    """
    summary: Record a specialist's leave; they are off call whatever the rota says (staff)
    responses:
      201: {description: "{id, specialist, starts_at, ends_at}"}
    """
    _require_rota(request)
    ctx = get_ctx(request)
    data = await json_body(request)
    row, person = await rota.add_absence(
        ctx.db,
        specialist=text_field(data, "specialist", max_length=254),
        starts_at=rota.parse_instant(data.get("starts_at"), "starts_at"),
        ends_at=rota.parse_instant(data.get("ends_at"), "ends_at"),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return JSONResponse(
        {
            "id": row.id,
            "specialist": person.email,
            "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at),
        },
        status_code=201,
    )


async def delete_absence(request: Request) -> Response:
    """
    summary: Remove an absence (staff)
    responses:
      204: {description: removed}
    """
    _require_rota(request)
    ctx = get_ctx(request)
    await rota.delete_absence(
        ctx.db,
        absence_id=rota.parse_id(request.path_params["id"], "absence"),
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return Response(status_code=204)


async def list_specialties(request: Request) -> Response:
    """
    summary: The specialty catalogue with each specialty's target windows
    responses:
      200: {description: "[{slug, name, targets}]"}
    """
    current_user(request)
    specialties = await specialties_service.list_specialties(get_ctx(request).db)
    return JSONResponse([s.as_json() for s in specialties])


async def put_targets(request: Request) -> Response:
    """
    summary: Change a specialty's target windows (staff)
    description: "Body {urgency: {acknowledge_within, respond_within, business_time?}} with ISO 8601 durations; urgencies not named keep their values."
    responses:
      200: {description: "{slug, name, targets}"}
    """  # noqa: E501
    if not may(current_user(request), Action.manage_targets):
        raise PermissionDenied("Only program staff can change target windows.")
    ctx = get_ctx(request)
    data = await json_body(request)
    specialty = await specialties_service.put_targets(
        ctx.db,
        slug=request.path_params["slug"],
        data=data,
        actor=actor_of(request),
        clock=ctx.clock,
    )
    return JSONResponse(specialty.as_json())
