"""JSON API: the on-call rota (staff) and the specialty catalogue with its targets.

The three kinds of rota rows (one-off shifts, weekly patterns, absences) are served by
the same two handlers, driven by the `KINDS` table: how a body becomes a typed entry,
and how a stored row is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from econsult.errors import InvalidInput
from econsult.http.auth import current_user
from econsult.http.requests import (
    actor_of,
    json_body,
    parse_choice,
    parse_clock,
    parse_id,
    parse_instant,
    parse_small_int,
    text_field,
)
from econsult.http.responses import JSONResponse
from econsult.http.state import app_state
from econsult.models import RotaAbsence, RotaShift, RotaWeekly
from econsult.rota import service as rota
from econsult.rota import specialties
from econsult.rota.entries import AbsenceInput, RotaEntry, ShiftInput, WeeklyInput
from econsult.routing.rota import Tier


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_tier(value: object) -> Tier:
    return Tier(parse_choice(value, "tier", ("primary", "backup")))


def _specialist(data: Mapping[str, Any]) -> str:
    value = data.get("specialist")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput("Choose a specialist: one is required.", field="specialist")
    return text_field(data, "specialist", max_length=254).strip()


def parse_shift(data: Mapping[str, Any], tz: ZoneInfo) -> ShiftInput:
    return ShiftInput(_specialist(data), parse_instant(data.get("starts_at"), "starts_at", tz),
                      parse_instant(data.get("ends_at"), "ends_at", tz),
                      parse_tier(data.get("tier") or "primary"))


def parse_weekly(data: Mapping[str, Any], tz: ZoneInfo) -> WeeklyInput:
    return WeeklyInput(_specialist(data), parse_small_int(data.get("weekday"), "weekday", 0, 6),
                       parse_clock(data.get("start"), "start"),
                       parse_clock(data.get("end"), "end"),
                       parse_tier(data.get("tier") or "primary"))


def parse_absence(data: Mapping[str, Any], tz: ZoneInfo) -> AbsenceInput:
    return AbsenceInput(_specialist(data), parse_instant(data.get("starts_at"), "starts_at", tz),
                        parse_instant(data.get("ends_at"), "ends_at", tz))


def _who(view: rota.RotaView | None, user_id: int, email: str = "") -> dict[str, Any]:
    person = view.person(user_id) if view else None
    return {"specialist": person.email if person else email, "specialist_id": user_id,
            **({"name": person.name} if person else {})}


def shift_json(row: Any, email: str) -> dict[str, Any]:
    assert isinstance(row, RotaShift)
    return {"id": row.id, "specialist": email, "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at), "tier": row.tier}


def weekly_json(row: Any, email: str) -> dict[str, Any]:
    assert isinstance(row, RotaWeekly)
    return {"id": row.id, "specialist": email, "weekday": row.weekday,
            "start": row.start.strftime("%H:%M"), "end": row.end.strftime("%H:%M"),
            "tier": row.tier}


def absence_json(row: Any, email: str) -> dict[str, Any]:
    assert isinstance(row, RotaAbsence)
    return {"id": row.id, "specialist": email, "starts_at": _iso(row.starts_at),
            "ends_at": _iso(row.ends_at)}


@dataclass(frozen=True)
class Kind:
    name: str  # as the service and the audit log call it
    what: str  # as a person reads it
    parse: Callable[[Mapping[str, Any], ZoneInfo], RotaEntry]
    show: Callable[[Any, str], dict[str, Any]]
    per_specialty: bool  # absences belong to the person, not to one specialty's rota
    add_doc: str
    body_schema: str  # its OpenAPI request body schema (flow YAML)


KINDS: dict[str, Kind] = {
    "shift": Kind("shift", "shift", parse_shift, shift_json, True,
                  "Put a specialist on call for a one-off period (staff). Body {specialist "
                  "(email), starts_at, ends_at, tier: primary|backup}; at most 14 days.",
                  "{type: object, required: [specialist, starts_at, ends_at], properties: {"
                  "specialist: {type: string, maxLength: 254}, starts_at: {type: string}, "
                  "ends_at: {type: string}, tier: {type: string, enum: [primary, backup]}}}"),
    "weekly": Kind("weekly", "weekly pattern", parse_weekly, weekly_json, True,
                   "Add a weekly on-call pattern in the program's time zone (staff). Body "
                   "{specialist (email), weekday (0=Monday), start, end (HH:MM), tier}. An "
                   "end at or before the start runs past midnight.",
                   "{type: object, required: [specialist, weekday, start, end], properties: {"
                   "specialist: {type: string, maxLength: 254}, weekday: {type: integer, "
                   "minimum: 0, maximum: 6}, start: {type: string, example: '08:00'}, end: "
                   "{type: string, example: '17:00'}, tier: {type: string, enum: [primary, "
                   "backup]}}}"),
    "absence": Kind("absence", "absence", parse_absence, absence_json, False,
                    "Record a specialist's leave; they are off call whatever the rota says "
                    "(staff). Body {specialist (email), starts_at, ends_at}.",
                    "{type: object, required: [specialist, starts_at, ends_at], properties: {"
                    "specialist: {type: string, maxLength: 254}, starts_at: {type: string}, "
                    "ends_at: {type: string}}}"),
}


_SPECIALTY = '[{$ref: "#/components/parameters/Specialty"}]'
_SPECIALTY_ITEM = '\n      - {$ref: "#/components/parameters/Specialty"}'
_ERRORS = "\n".join(
    f'      {code}: {{$ref: "#/components/responses/{name}"}}' for code, name in (
        ("400", "BadInput"), ("401", "NotAuthenticated"), ("403", "Forbidden"),
        ("404", "NotFound"), ("409", "Conflict")))


def add_handler(kind: Kind) -> Callable[[Request], Any]:
    async def add(request: Request) -> Response:
        state, user = app_state(request), current_user(request)
        entry = kind.parse(await json_body(request), state.settings.timezone)
        row, person = await rota.add_entry(
            state, user,
            specialty=request.path_params.get("specialty"), entry=entry,
            actor=actor_of(request))
        return JSONResponse(kind.show(row, person.email), status_code=201)

    add.__doc__ = f"""
    summary: "{kind.add_doc}"
    parameters: {_SPECIALTY if kind.per_specialty else "[]"}
    requestBody:
      required: true
      content: {{application/json: {{schema: {kind.body_schema}}}}}
    responses:
      201: {{description: "the {kind.what} as stored, with its id"}}
{_ERRORS}
    """
    add.__name__ = f"add_{kind.name}"
    return add


def delete_handler(kind: Kind) -> Callable[[Request], Any]:
    async def delete(request: Request) -> Response:
        state = app_state(request)
        await rota.delete_entry(
            state.db, state.clock, current_user(request), kind=kind.name,
            specialty=request.path_params.get("specialty"),
            row_id=parse_id(request.path_params["id"], kind.what), actor=actor_of(request))
        return Response(status_code=204)

    delete.__doc__ = f"""
    summary: "Remove a {kind.what} (staff)"
    parameters:
      - {{$ref: "#/components/parameters/RowId"}}{_SPECIALTY_ITEM if kind.per_specialty else ""}
    responses:
      204: {{description: removed}}
{_ERRORS}
    """
    delete.__name__ = f"delete_{kind.name}"
    return delete


def rota_json(view: rota.RotaView) -> dict[str, Any]:
    return {
        "specialty": view.specialty.slug,
        "from": _iso(view.start),
        "to": _iso(view.end),
        "shifts": [
            {**_who(view, i.specialist_id), "tier": i.tier.value,
             "starts_at": _iso(i.starts_at_utc), "ends_at": _iso(i.ends_at_utc),
             "source": i.source.value, "shift_ids": list(i.shift_ids)}
            for i in view.intervals
        ],
        "weekly": [{**weekly_json(w, ""), **_who(view, w.specialist_id)} for w in view.weekly],
        "one_off": [{**shift_json(s, ""), **_who(view, s.specialist_id)} for s in view.shifts],
        "absences": [{**absence_json(a, ""), **_who(view, a.specialist_id)}
                     for a in view.absences],
    }


async def list_rota(request: Request) -> Response:
    """
    summary: A specialty's on-call rota, expanded into UTC intervals (staff)
    description: "`from` and `to` follow the date-time rule; default: this week, Monday to Monday. Also lists the weekly patterns, one-off shifts and absences behind it."
    parameters:
      - {$ref: "#/components/parameters/Specialty"}
      - {$ref: "#/components/parameters/From"}
      - {$ref: "#/components/parameters/To"}
    responses:
      200: {description: "{specialty, from, to, shifts, weekly, one_off, absences}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
    """  # noqa: E501
    state, user = app_state(request), current_user(request)
    tz = state.settings.timezone
    start, end = rota.week_window(rota.week_start(state.clock.now().astimezone(tz).date()), tz)
    query = request.query_params
    if query.get("from"):
        start = parse_instant(query["from"], "from", tz)
    if query.get("to"):
        end = parse_instant(query["to"], "to", tz)
    view = await rota.rota_view(state.db, user,
                                specialty=request.path_params["specialty"], start=start,
                                end=end, tz=tz)
    return JSONResponse(rota_json(view))


async def list_specialties(request: Request) -> Response:
    """
    summary: The specialty catalogue with each specialty's target windows
    responses:
      200: {description: "{specialties: [{slug, name, targets}]}"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
    """
    current_user(request)
    found = await specialties.list_specialties(app_state(request).db)
    return JSONResponse([s.as_json() for s in found])


async def put_targets(request: Request) -> Response:
    """
    summary: Change a specialty's target windows (staff)
    description: "Body {urgency: {acknowledge_within, respond_within, business_time?}} with ISO 8601 durations; urgencies not named keep their values."
    parameters:
      - {$ref: "#/components/parameters/Slug"}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            additionalProperties:
              type: object
              properties:
                acknowledge_within: {type: string, example: PT2H}
                respond_within: {type: string, example: P2D}
                business_time: {type: boolean}
    responses:
      200: {description: "{slug, name, targets}"}
      400: {$ref: "#/components/responses/BadInput"}
      401: {$ref: "#/components/responses/NotAuthenticated"}
      403: {$ref: "#/components/responses/Forbidden"}
      404: {$ref: "#/components/responses/NotFound"}
      415: {$ref: "#/components/responses/UnsupportedMedia"}
    """  # noqa: E501
    state, user = app_state(request), current_user(request)
    specialty = await specialties.put_targets(
        state.db, state.clock, user, slug=request.path_params["slug"],
        data=await json_body(request), actor=actor_of(request))
    return JSONResponse(specialty.as_json())


def routes() -> list[BaseRoute]:
    shift, weekly, absence = KINDS["shift"], KINDS["weekly"], KINDS["absence"]
    return [
        Route("/specialties", list_specialties, methods=["GET"]),
        Route("/specialties/{slug}/targets", put_targets, methods=["PUT"]),
        Route("/rota/absences", add_handler(absence), methods=["POST"]),
        Route("/rota/absences/{id}", delete_handler(absence), methods=["DELETE"]),
        Route("/rota/{specialty}", list_rota, methods=["GET"]),
        Route("/rota/{specialty}/shifts", add_handler(shift), methods=["POST"]),
        Route("/rota/{specialty}/shifts/{id}", delete_handler(shift), methods=["DELETE"]),
        Route("/rota/{specialty}/weekly", add_handler(weekly), methods=["POST"]),
        Route("/rota/{specialty}/weekly/{id}", delete_handler(weekly), methods=["DELETE"]),
    ]
